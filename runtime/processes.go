package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/msgflo/msgflo-runtime/library"
	"github.com/msgflo/msgflo-runtime/participant"
)

// Participant processes: a node whose component the library can start (and
// that is not built in) gets a process running the library's command, with
// MSGFLO_BROKER set. The edit that adds the node is acknowledged at once;
// the node is wired when the participant announces itself. A process that
// does not announce itself within WaitTimeout, or that exits, is reported
// as network:processerror. Removing the node (or clearing its graph) stops
// the process: SIGTERM to its process group, SIGKILL after StopGrace.

// DefaultWaitTimeout is msgflo's --wait-timeout.
const DefaultWaitTimeout = 45 * time.Second

// StopGrace is how long a participant process has between SIGTERM and SIGKILL.
const StopGrace = 5 * time.Second

type process struct {
	role, component string
	cmd             *exec.Cmd
	done            chan struct{} // closed once it has exited and been reaped
	// lifeline is the write end of the supervisor's pipe (nil without a
	// supervisor): closing it makes the supervisor kill everything.
	lifeline *os.File
	stopping bool
	exited   bool
	// exitCode and exitedAt say how and when it exited.
	exitCode int
	exitedAt time.Time
	timer    *time.Timer
}

func (r *Runtime) libraryComponentLocked(name string) (*library.Component, bool) {
	if r.opts.Library == nil {
		return nil, false
	}
	if c, ok := r.components[name]; ok && c.builtin != nil {
		return nil, false
	}
	lc, ok := r.opts.Library.Get(name)
	if !ok || lc.Command == "" {
		return nil, false
	}
	return lc, true
}

// reconcileProcesses starts and stops participant processes to match the
// graphs. A process that exited stays recorded (and is not restarted)
// until its node goes away.
func (r *Runtime) reconcileProcesses() {
	r.mu.Lock()
	defer r.mu.Unlock()
	want := map[string]string{}
	for _, gs := range r.sortedGraphsLocked() {
		// Skip a graph without a library component without walking its nodes.
		if !slices.ContainsFunc(gs.g.Components(), func(name string) bool {
			_, ok := r.libraryComponentLocked(name)
			return ok
		}) {
			continue
		}
		for _, n := range gs.g.Nodes {
			role := gs.roleOf(n.ID)
			if slices.Contains(r.opts.Ignore, role) {
				continue
			}
			if _, ok := r.libraryComponentLocked(n.Component); ok {
				want[role] = n.Component
			}
		}
	}
	for role, p := range r.procs {
		if comp, ok := want[role]; !ok || comp != p.component {
			r.stopProcessLocked(p)
			delete(r.procs, role)
		}
	}
	roles := make([]string, 0, len(want))
	for role := range want {
		roles = append(roles, role)
	}
	sort.Strings(roles)
	for _, role := range roles {
		if _, running := r.procs[role]; running {
			continue
		}
		if len(r.registry.ByRole(role)) > 0 {
			continue // a live participant already serves the role
		}
		r.startProcessLocked(role, want[role])
	}
}

func (r *Runtime) iipsForLocked(role string) map[string]any {
	iips := map[string]any{}
	for _, gs := range r.graphs {
		for _, node := range gs.nodesOfRole(role) {
			maps.Copy(iips, gs.g.InitialData(node))
		}
	}
	return iips
}

// startFailedLocked records p, a participant process that could not be
// started, as exited, and reports msg.
func (r *Runtime) startFailedLocked(p *process, msg string) {
	p.exited = true
	if p.done == nil {
		p.done = make(chan struct{})
	}
	close(p.done)
	r.procs[p.role] = p
	r.processErrorLocked(p.role, msg)
}

func (r *Runtime) startProcessLocked(role, component string) {
	lc, _ := r.libraryComponentLocked(component)
	line, err := r.opts.Library.Script(lc, role, r.iipsForLocked(role))
	if err != nil {
		r.log.Error().Err(err).Str("role", role).Str("component", component).Msg("cannot start participant process")
		r.startFailedLocked(&process{role: role, component: component}, fmt.Sprintf("could not start participant process: %v", err))
		return
	}
	argv := []string{"/bin/sh", "-c", line}
	var lifeline, lifelineChild *os.File
	if len(r.opts.Supervisor) > 0 {
		if lifelineChild, lifeline, err = os.Pipe(); err != nil {
			r.log.Error().Err(err).Str("role", role).Msg("cannot start participant process")
			r.startFailedLocked(&process{role: role, component: component}, fmt.Sprintf("could not start participant process: %v", err))
			return
		}
		argv = append(slices.Clone(r.opts.Supervisor), argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "MSGFLO_BROKER="+r.broker.URL())
	if r.opts.TransientMessages {
		cmd.Env = append(cmd.Env, participant.PersistentMessagesEnv+"=false")
	}
	if r.opts.QueueType != "" {
		cmd.Env = append(cmd.Env, participant.QueueTypeEnv+"="+r.opts.QueueType)
	}
	// As msgflo: in the runtime's working directory, where #FILENAME
	// (the component directory joined with the file's name) is relative to.
	// Its own process group, so that stopping it stops what it started.
	if lifeline != nil {
		// The supervisor dies when the pipe closes (with the runtime),
		// after killing the participant and all it started: it must not
		// get a parent-death signal, which would leave it no time for that.
		cmd.ExtraFiles = []*os.File{lifelineChild}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	} else {
		// Without a supervisor, the shell (or the program it execs) dies
		// with the runtime, but not what it started.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}
	// Output pipes may be held open by what the command started; do not
	// wait for them long once the command itself is gone.
	cmd.WaitDelay = time.Second
	p := &process{role: role, component: component, cmd: cmd, lifeline: lifeline, done: make(chan struct{})}
	var pipes sync.WaitGroup
	var writers []*io.PipeWriter
	for _, s := range []struct {
		name string
		set  func(io.Writer)
	}{
		{"stdout", func(w io.Writer) { cmd.Stdout = w }},
		{"stderr", func(w io.Writer) { cmd.Stderr = w }},
	} {
		if !slices.Contains(r.opts.Forward, s.name) || r.opts.ForwardTo == nil {
			continue
		}
		pr, pw := io.Pipe()
		writers = append(writers, pw)
		s.set(pw)
		pipes.Add(1)
		go func(name string) {
			defer pipes.Done()
			sc := bufio.NewScanner(pr)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				fmt.Fprintf(r.opts.ForwardTo, "%s(%s): %s\n", role, name, sc.Text())
			}
			_, _ = io.Copy(io.Discard, pr)
		}(s.name)
	}
	closePipes := func() {
		for _, w := range writers {
			w.Close()
		}
	}
	err = cmd.Start()
	if lifelineChild != nil {
		lifelineChild.Close() // the supervisor has its own copy
	}
	if err != nil {
		closePipes()
		if lifeline != nil {
			lifeline.Close()
		}
		r.log.Error().Err(err).Str("role", role).Str("command", line).Msg("cannot start participant process")
		r.startFailedLocked(p, fmt.Sprintf("could not start participant process (%s): %v", line, err))
		return
	}
	r.procs[role] = p
	r.log.Info().Str("role", role).Str("component", component).Int("pid", cmd.Process.Pid).Str("command", line).Msg("started participant process")
	wait := r.opts.WaitTimeout
	if wait <= 0 {
		wait = DefaultWaitTimeout
	}
	p.timer = time.AfterFunc(wait, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.procs[role] != p || p.exited || p.stopping || len(r.registry.ByRole(role)) > 0 {
			return
		}
		r.log.Warn().Str("role", role).Dur("wait_timeout", wait).Msg("participant process did not announce itself")
		r.processErrorLocked(role, fmt.Sprintf("participant process for %s (%s) did not announce itself within %s", role, component, wait))
	})
	go func() {
		err := cmd.Wait() // returns once exec has copied all the output
		// Whatever the command started goes with it: no orphans.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if lifeline != nil {
			lifeline.Close()
		}
		closePipes()
		pipes.Wait()
		r.mu.Lock()
		p.exited = true
		p.exitCode = exitCode(err)
		p.exitedAt = r.now()
		p.timer.Stop()
		close(p.done)
		if !p.stopping {
			code := p.exitCode
			r.log.Warn().Str("role", role).Int("exit_code", code).Msg("participant process exited")
			r.processErrorLocked(role, fmt.Sprintf("participant process for %s (%s) exited with code %d", role, component, code))
		}
		r.mu.Unlock()
	}()
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// stopProcessLocked asks the process group to stop and kills it after
// StopGrace; the process is reaped by its waiter.
func (r *Runtime) stopProcessLocked(p *process) {
	if p.exited || p.stopping {
		return
	}
	p.stopping = true
	if p.timer != nil {
		p.timer.Stop()
	}
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	r.log.Info().Str("role", p.role).Int("pid", pid).Msg("stopping participant process")
	go func() {
		select {
		case <-p.done:
		case <-time.After(StopGrace):
			if p.lifeline != nil {
				// The supervisor kills the participant and all it started.
				p.lifeline.Close()
				select {
				case <-p.done:
					return
				case <-time.After(StopGrace):
				}
			}
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-p.done
		}
	}()
}

// stopAllProcesses stops every participant process and waits for them.
func (r *Runtime) stopAllProcesses() {
	r.mu.Lock()
	var dones []chan struct{}
	for role, p := range r.procs {
		r.stopProcessLocked(p)
		dones = append(dones, p.done)
		delete(r.procs, role)
	}
	r.mu.Unlock()
	for _, d := range dones {
		<-d
	}
}

func (r *Runtime) processErrorLocked(role, msg string) {
	r.nodeErrorLocked("process:"+role, role, false, func(string) string { return msg })
}
