package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
)

// --ignore is one rule (plan.IgnoreList) in the runtime, its start-up log,
// procfile and setup: an entry names a node by its id or by its role, and
// for a node whose id is not a safe role (Flowhub's core/Output_3v0gj has
// role core_Output_3v0gj) both spellings leave it alone everywhere. Seen
// failing before: the runtime's log matched ids only (it said "starting a
// participant process" for a node the reconciler ignored by role, and
// "ignored" for one it started), setup matched ids only (it started a node
// ignored by role).

// ignoreGraph is a graph of two library nodes, one with an id that is
// not a safe role, and the ids and roles of its nodes.
func ignoreGraph(t *testing.T) (path, oddID, oddRole, plain string) {
	s := uuid.New()[:8]
	oddID, oddRole, plain = "core/Output_"+s, "core_Output_"+s, "plain"+s
	path = writeFile(t, "ignore.json", fmt.Sprintf(`{"processes": {%q: {"component": "x/Repeat"}, %q: {"component": "x/Repeat"}}}`, oddID, plain))
	return path, oddID, oddRole, plain
}

func TestIgnoreByIDOrRoleInProcfile(t *testing.T) {
	t.Parallel()
	path, oddID, oddRole, plain := ignoreGraph(t)
	for _, ignore := range []string{oddID, oddRole} {
		out, err := exec.Command(runtimeBinary(t), "procfile", "--library", repeatLibrary(t), path, "--ignore", ignore).Output()
		if err != nil || strings.Contains(string(out), oddRole+":") || !strings.Contains(string(out), plain+":") {
			t.Errorf("procfile --ignore %s: %v\n%s", ignore, err, out)
		}
	}
}

func TestIgnoreByIDOrRoleInTheRuntime(t *testing.T) {
	t.Parallel()
	for _, by := range []string{"id", "role"} {
		t.Run(by, func(t *testing.T) {
			t.Parallel()
			path, oddID, oddRole, plain := ignoreGraph(t)
			ignore := map[string]string{"id": oddID, "role": oddRole}[by]
			p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--graph", path, "--library", repeatLibrary(t), "--componentdir", "", "--ignore", ignore)
			p.ready(t)
			waitLog(t, p, regexp.MustCompile(`started participant process .*role=`+plain))
			p.signalAndWait(t, syscall.SIGTERM) // stops and waits for every process it started
			log := p.stderrText()
			if _, started := pidsOf(p)[oddRole]; started {
				t.Errorf("--ignore %s: the runtime started %s:\n%s", ignore, oddRole, log)
			}
			said := regexp.MustCompile(`(?m)^.*node=` + regexp.QuoteMeta(oddID) + `\b.*$`).FindString(log)
			if !strings.Contains(said, "ignored (--ignore)") {
				t.Errorf("--ignore %s: the log says %q", ignore, said)
			}
		})
	}
}

func TestIgnoreByIDOrRoleInSetup(t *testing.T) {
	t.Parallel()
	url := brokertest.MosquittoURL(t)
	for _, by := range []string{"id", "role"} {
		path, oddID, oddRole, plain := ignoreGraph(t)
		ignore := map[string]string{"id": oddID, "role": oddRole}[by]
		r := startSetup(t, url, "--participants", "--library", repeatLibrary(t), "--ignore", ignore, path)
		waitOutput(t, r.out, "Set up bindings")
		if first, _, _ := strings.Cut(r.out.String(), "\n"); first != "Set up participants [ '"+plain+"' ]" {
			t.Errorf("setup --ignore %s (by %s): %q", ignore, by, first)
		}
		if err := r.stop(t); err != nil {
			t.Errorf("setup exit: %v", err)
		}
	}
}

// waitLog waits until the runtime's log has a line matching re.
func waitLog(t *testing.T, p *proc, re *regexp.Regexp) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !re.MatchString(p.stderrText()) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line matching %s:\n%s", re, p.stderrText())
		}
		time.Sleep(20 * time.Millisecond) // the log is written by another process
	}
}

// waitOutput waits until out holds want.
func waitOutput(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %q", want, out.String())
		}
		time.Sleep(20 * time.Millisecond) // written by another process
	}
}
