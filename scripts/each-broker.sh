#!/bin/bash
# Runs a command three times: on the embedded broker, on RabbitMQ and on
# Mosquitto (MSGFLO_BROKER set accordingly). A broker that is not running
# is skipped with a note, or fails the run under MSGFLO_TEST_REQUIRE_BROKERS=1.
set -u
AMQP=${MSGFLO_TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}
MQTT=${MSGFLO_TEST_MQTT_URL:-mqtt://127.0.0.1:1883}

reachable() { # url default-port
	local hostport=${1#*://}
	hostport=${hostport#*@}
	hostport=${hostport%%/*}
	local host=${hostport%%:*} port=$2
	[[ $hostport == *:* ]] && port=${hostport##*:}
	(exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

status=0
for broker in "" "$AMQP" "$MQTT"; do
	if [ -n "$broker" ]; then
		port=1883
		[[ $broker == amqp* ]] && port=5672
		if ! reachable "$broker" $port; then
			if [ "${MSGFLO_TEST_REQUIRE_BROKERS:-}" = 1 ]; then
				echo "each-broker: ${broker%%://*} broker not reachable and MSGFLO_TEST_REQUIRE_BROKERS=1" >&2
				status=1
			else
				echo "== skipped on ${broker%%://*}: broker not reachable"
			fi
			continue
		fi
	fi
	echo "== $* on ${broker:-the embedded broker}" | sed 's#://[^:@/]*:[^@/]*@#://***@#'
	MSGFLO_BROKER=$broker "$@" || status=1
done
exit $status
