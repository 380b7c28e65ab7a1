// Package supervise keeps a participant process, and everything it starts,
// from outliving the runtime. The runtime starts each participant through
// a small supervisor (this binary, re-executed): the supervisor is a child
// subreaper (orphans of the participant's descendants become its children),
// starts the participant in a process group of its own with a parent-death
// signal, and holds the read end of a pipe whose write end only the runtime
// has. When that pipe closes (the runtime exited, however it died, or it
// asks for a hard stop) the supervisor kills the participant's group and
// every descendant left, reaps them, and exits. SIGTERM, SIGINT and SIGHUP
// are passed to the participant's group; when the participant exits, what
// it left behind is killed and the supervisor exits with its status.
//
// The supervisor needs Linux (a child subreaper, parent-death signals,
// /proc); elsewhere Supported is false and Main refuses to run.
package supervise

// Command is the first argument that makes the binary a supervisor:
// BINARY Command PROGRAM ARGS... with the pipe as file descriptor 3.
const Command = "__supervise"
