package protocol

import (
	"context"

	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// traceHandlers serve the trace sub-protocol. A dump waits for the
// graph's FBP-capable participants (each at most the proxy's timeout), so
// it is answered from its own goroutine: the client's other requests go
// on meanwhile.
func traceHandlers() map[string]handler {
	return map[string]handler{
		"trace:start": query(func(s *Server, _ *request, p wire.TraceStart) (wire.TraceStart, error) {
			return s.rt.TraceStart(p)
		}),
		"trace:stop": query(func(s *Server, _ *request, p wire.TraceStop) (wire.TraceStop, error) {
			return s.rt.TraceStop(p)
		}),
		"trace:clear": query(func(s *Server, _ *request, p wire.TraceClear) (wire.TraceClear, error) {
			return s.rt.TraceClear(p)
		}),
		"trace:dump": func(s *Server, rc *request) error {
			var p wire.TraceDump
			if err := rc.payload(&p); err != nil {
				return err
			}
			go func() {
				out, err := s.rt.TraceDump(context.Background(), p)
				if err != nil {
					s.fail(rc.c, "trace", err.Error())
					return
				}
				rc.reply(s, out)
			}()
			return nil
		},
	}
}
