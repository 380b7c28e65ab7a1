package network

import (
	"errors"
	"fmt"
	"strings"
)

// NameRules says whether a broker can use a name as a queue, exchange or
// topic. A broker with rules of its own implements it; RulesOf finds them.
type NameRules interface {
	// CheckName returns an error saying what is wrong with name, or nil.
	CheckName(name string) error
}

// nameRules is a NameRules made of a function.
type nameRules func(name string) error

func (f nameRules) CheckName(name string) error { return f(name) }

// Limits of the brokers' names.
const (
	// maxAMQPName is AMQP 0-9-1's limit: a queue or exchange name is a
	// short string.
	maxAMQPName = 255
	// maxMQTTTopic is MQTT's limit: a topic is a UTF-8 string with a
	// two-byte length.
	maxMQTTTopic = 65535
)

var errEmptyName = errors.New("empty name")

// AMQPNames are RabbitMQ's rules: at most 255 bytes, and not starting with
// "amq." (reserved: declaring such a queue is refused, and the refusal
// closes the channel).
var AMQPNames NameRules = nameRules(checkAMQPName)

// MQTTNames are MQTT's rules for topic names: no wildcard ('+', '#') and
// no NUL (a topic a client publishes to must have none; one the
// coordinator subscribes to with a wildcard would be every topic), at
// most 65,535 bytes.
var MQTTNames NameRules = nameRules(checkMQTTName)

// AnyBroker are the rules of every supported broker at once: a name it
// takes works on RabbitMQ and on MQTT.
var AnyBroker NameRules = nameRules(func(name string) error {
	if err := checkAMQPName(name); err != nil {
		return err
	}
	return checkMQTTName(name)
})

func checkAMQPName(name string) error {
	switch {
	case name == "":
		return errEmptyName
	case len(name) > maxAMQPName:
		return fmt.Errorf("%d bytes, over AMQP's %d", len(name), maxAMQPName)
	case strings.HasPrefix(name, "amq."):
		return errors.New(`starts with "amq.", reserved by RabbitMQ`)
	}
	return nil
}

func checkMQTTName(name string) error {
	switch {
	case name == "":
		return errEmptyName
	case len(name) > maxMQTTTopic:
		return fmt.Errorf("%d bytes, over MQTT's %d", len(name), maxMQTTTopic)
	case strings.ContainsAny(name, "+#\x00"):
		return errors.New("has an MQTT wildcard (+ #) or NUL")
	}
	return nil
}

// RulesOf returns the name rules of b: its own when it implements
// NameRules, else AnyBroker.
func RulesOf(b Broker) NameRules {
	if r, ok := b.(NameRules); ok {
		return r
	}
	return AnyBroker
}
