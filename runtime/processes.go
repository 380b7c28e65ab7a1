package runtime

import (
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/runtime/procs"
)

// Participant processes: a node whose component the library can start (and
// that is not built in) gets a process running the library's command
// (runtime/procs: MSGFLO_BROKER set, the secret withheld). The edit that
// adds the node is acknowledged at once; the node is wired when the
// participant announces itself. A process that does not announce itself
// within WaitTimeout, or that exits, is reported as network:processerror.
// Removing the node (or clearing its graph) stops the process: SIGTERM to
// its process group, SIGKILL after StopGrace.

// DefaultWaitTimeout is msgflo's --wait-timeout.
const DefaultWaitTimeout = 45 * time.Second

// StopGrace is how long a participant process has between SIGTERM and SIGKILL.
const StopGrace = procs.StopGrace

type process struct {
	role, component string
	// proc is the process, once started (nil while it starts, and when it
	// could not be started).
	proc     *procs.Process
	done     chan struct{} // closed once it has exited and been reaped
	stopping bool
	exited   bool
	// exitCode and exitedAt say how and when it exited.
	exitCode int
	exitedAt time.Time
	timer    *time.Timer
}

// processes are the participant processes the runtime started, by role
// (one that exited stays, and is not started again, until its node goes).
// They have a lock of their own; processes start (fork and exec) and are
// waited for outside it.
type processes struct {
	log  zerolog.Logger
	now  func() time.Time
	wait time.Duration
	// live says a participant of the role announced itself.
	live func(role string) bool
	// failed reports a problem of the process of role (called with no
	// lock of processes held).
	failed func(role, msg string)

	mu     sync.Mutex // guards byRole and the processes' state
	byRole map[string]*process
}

// processStatus is what the status page shows of a process.
type processStatus struct {
	component string
	pid       int
	exited    bool // on its own: not stopped by the runtime
	exitCode  *int
	exitedAt  time.Time
}

func (ps *processes) has(role string) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	_, ok := ps.byRole[role]
	return ok
}

// components are the components of the processes, by role.
func (ps *processes) components() map[string]string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := make(map[string]string, len(ps.byRole))
	for role, p := range ps.byRole {
		out[role] = p.component
	}
	return out
}

// statuses are the processes' states, by role.
func (ps *processes) statuses() map[string]processStatus {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := make(map[string]processStatus, len(ps.byRole))
	for role, p := range ps.byRole {
		st := processStatus{component: p.component, exited: p.exited && !p.stopping, exitedAt: p.exitedAt}
		if p.proc != nil {
			st.pid = p.proc.Pid()
		}
		if p.exited {
			code := p.exitCode
			st.exitCode = &code
		}
		out[role] = st
	}
	return out
}

// failedToStart records a process of component for role that could not be
// started as exited, and reports msg.
func (ps *processes) failedToStart(role, component, msg string) {
	ps.mu.Lock()
	p := &process{role: role, component: component, exited: true, done: make(chan struct{})}
	close(p.done)
	ps.byRole[role] = p
	ps.mu.Unlock()
	ps.failed(role, msg)
}

// start has the process of spec started for role; the start (fork and
// exec) happens in the background, in run.
func (ps *processes) start(role, component string, spec procs.Spec) {
	p := &process{role: role, component: component, done: make(chan struct{})}
	ps.mu.Lock()
	ps.byRole[role] = p
	ps.mu.Unlock()
	go ps.run(p, spec)
}

// run starts p's process, records it, and reports its exit.
func (ps *processes) run(p *process, spec procs.Spec) {
	proc, err := procs.Start(spec)
	ps.mu.Lock()
	if err != nil {
		p.exited = true
		close(p.done)
		stopping := p.stopping // its node went away meanwhile
		ps.mu.Unlock()
		ps.log.Error().Err(err).Str("role", p.role).Str("command", spec.Command).Msg("cannot start participant process")
		if !stopping {
			ps.failed(p.role, fmt.Sprintf("could not start participant process (%s): %v", spec.Command, err))
		}
		return
	}
	p.proc = proc
	ps.log.Info().Str("role", p.role).Str("component", p.component).Int("pid", proc.Pid()).Str("command", spec.Command).Msg("started participant process")
	if p.stopping { // its node went away while it started
		ps.signalStopLocked(p)
	}
	p.timer = time.AfterFunc(ps.wait, func() { ps.waitedFor(p) })
	ps.mu.Unlock()

	exit := proc.Wait()
	ps.mu.Lock()
	p.exited = true
	p.exitCode = exit.Code
	p.exitedAt = ps.now()
	p.timer.Stop()
	close(p.done)
	stopping := p.stopping
	ps.mu.Unlock()
	if !stopping {
		ps.log.Warn().Str("role", p.role).Int("exit_code", p.exitCode).Msg("participant process exited")
		ps.failed(p.role, fmt.Sprintf("participant process for %s (%s) exited with code %d", p.role, p.component, p.exitCode))
	}
}

// waitedFor reports a process that did not announce itself within the
// wait timeout.
func (ps *processes) waitedFor(p *process) {
	ps.mu.Lock()
	late := ps.byRole[p.role] == p && !p.exited && !p.stopping && !ps.live(p.role)
	ps.mu.Unlock()
	if late {
		ps.log.Warn().Str("role", p.role).Dur("wait_timeout", ps.wait).Msg("participant process did not announce itself")
		ps.failed(p.role, fmt.Sprintf("participant process for %s (%s) did not announce itself within %s", p.role, p.component, ps.wait))
	}
}

// stop asks the process of role to stop (procs.Process.Stop: SIGKILL after
// StopGrace) and forgets it; it is reaped by run. A process still starting
// is stopped once started. It returns what is closed once it has exited.
func (ps *processes) stop(role string) <-chan struct{} {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p, ok := ps.byRole[role]
	if !ok {
		return nil
	}
	delete(ps.byRole, role)
	if p.exited || p.stopping {
		return p.done
	}
	p.stopping = true
	if p.timer != nil {
		p.timer.Stop()
	}
	if p.proc != nil {
		ps.signalStopLocked(p)
	}
	return p.done
}

func (ps *processes) signalStopLocked(p *process) {
	ps.log.Info().Str("role", p.role).Int("pid", p.proc.Pid()).Msg("stopping participant process")
	p.proc.Stop()
}

// stopAll stops every participant process and waits for them.
func (ps *processes) stopAll() {
	ps.mu.Lock()
	roles := make([]string, 0, len(ps.byRole))
	for role := range ps.byRole {
		roles = append(roles, role)
	}
	ps.mu.Unlock()
	var dones []<-chan struct{}
	for _, role := range roles {
		if d := ps.stop(role); d != nil {
			dones = append(dones, d)
		}
	}
	for _, d := range dones {
		<-d
	}
}
