package graph

import "errors"

// Kinds of graph errors, for errors.Is. The texts of *Error are what the
// protocol sends to clients.
var (
	ErrNodeNotFound  = errors.New("node not found")
	ErrEdgeNotFound  = errors.New("edge not found")
	ErrIIPNotFound   = errors.New("initial packet not found")
	ErrPortNotFound  = errors.New("exported port not found")
	ErrGroupNotFound = errors.New("group not found")
	ErrExists        = errors.New("already exists")
	ErrInvalid       = errors.New("invalid argument")
)

// Error is a graph edit that could not be made. Msg is a complete sentence
// for the client; Kind is one of the Err* values above.
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, ErrNodeNotFound) and friends work.
func (e *Error) Unwrap() error { return e.Kind }
