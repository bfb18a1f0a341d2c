package mailtemplates

import (
	"context"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"sync"
	"text/template/parse"
	"time"
)

// Bounds on running a staff layout. A template language with loops and
// calls can be made to run for ever or write gigabytes:
// {{range 10000}}{{range 2000}}x{{end}}{{end}} was saved after 14.5 s,
// RSS 58→265 MB. Every run of a layout, when it is saved and when a
// campaign is compiled with it, stops at the first bound it passes.
const (
	// MaxLayoutFrame bounds what a layout writes around the content. A
	// mail's frame is a few KB; Gmail clips the whole message at 102 KB.
	MaxLayoutFrame = 256 << 10
	// MaxLayoutSteps bounds loop rounds and template calls in one run.
	MaxLayoutSteps = 50_000
	// LayoutTimeout bounds one run in time.
	LayoutTimeout = 2 * time.Second
)

// layoutRun is the budget of one run of a layout.
type layoutRun struct {
	ctx      context.Context
	deadline time.Time
	steps    int
	written  int
	max      int
}

var (
	errLayoutSteps   = fmt.Errorf("it runs more than %d loop rounds or template calls", MaxLayoutSteps)
	errLayoutTimeout = fmt.Errorf("it did not finish within %v", LayoutTimeout)
)

func (r *layoutRun) check() error {
	if err := r.ctx.Err(); err != nil {
		return context.Cause(r.ctx)
	}
	if time.Now().After(r.deadline) {
		return errLayoutTimeout
	}
	return nil
}

func (r *layoutRun) step() error {
	r.steps++
	if r.steps > MaxLayoutSteps {
		return errLayoutSteps
	}
	return r.check()
}

// limitedWriter fails a run that writes more than its budget; the
// template stops at the failed write.
type limitedWriter struct {
	w   io.Writer
	run *layoutRun
}

type outputError struct{ max int }

func (e *outputError) Error() string {
	return fmt.Sprintf("it writes more than %d KB around the content", e.max/1024)
}

func (lw limitedWriter) Write(p []byte) (int, error) {
	if lw.run.written+len(p) > lw.run.max {
		return 0, &outputError{MaxLayoutFrame}
	}
	if err := lw.run.check(); err != nil {
		return 0, err
	}
	lw.run.written += len(p)
	return lw.w.Write(p)
}

// guardedLayout is a staff layout's parsed template whose every loop
// round and template call first asks the run's budget. Runs are one at a
// time: the budget is the layout's while it runs.
type guardedLayout struct {
	mu  sync.Mutex
	h   *htmltemplate.Template
	run *layoutRun
}

const (
	tickFunc = "utskickLayoutTick"
	passFunc = "utskickLayoutPass"
)

// parseGuarded parses src and rewrites its trees: each {{range}} body is
// wrapped in {{if tick}} (a range's body already has to end in the
// context it starts in, so html/template's escaping is unchanged) and
// each {{template}} call's data goes through pass, which returns it.
func parseGuarded(src string) (*guardedLayout, error) {
	g := &guardedLayout{}
	funcs := htmltemplate.FuncMap{
		tickFunc: func() (bool, error) { return true, g.run.step() },
		passFunc: func(args ...any) (any, error) {
			if err := g.run.step(); err != nil {
				return nil, err
			}
			if len(args) == 1 {
				return args[0], nil
			}
			return nil, nil
		},
	}
	h, err := htmltemplate.New("layout").Option("missingkey=error").Funcs(funcs).Parse(src)
	if err != nil {
		return nil, err
	}
	proto, err := parse.Parse("proto", `{{if `+tickFunc+`}}{{end}}{{template "p" `+passFunc+`}}`, "", "",
		map[string]any{tickFunc: funcs[tickFunc], passFunc: funcs[passFunc]})
	if err != nil {
		return nil, err
	}
	root := proto["proto"].Root
	ifProto := root.Nodes[0].(*parse.IfNode)
	passPipe := root.Nodes[1].(*parse.TemplateNode).Pipe
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.RangeNode:
			walk(n.List)
			walk(n.ElseList)
			guard := ifProto.Copy().(*parse.IfNode)
			guard.List.Nodes = n.List.Nodes
			n.List = &parse.ListNode{NodeType: parse.NodeList, Pos: n.List.Pos, Nodes: []parse.Node{guard}}
		case *parse.IfNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			if n.Pipe == nil {
				n.Pipe = passPipe.CopyPipe()
			} else {
				n.Pipe.Cmds = append(n.Pipe.Cmds, passPipe.Cmds[0].Copy().(*parse.CommandNode))
			}
		}
	}
	for _, t := range h.Templates() {
		if t.Tree != nil && t.Tree.Root != nil {
			walk(t.Tree.Root)
		}
	}
	g.h = h
	return g, nil
}

// execute runs the layout within its bounds: at most content bytes of
// content plus MaxLayoutFrame written, MaxLayoutSteps, LayoutTimeout, and
// ctx. A bound passed is a *LayoutError.
func (g *guardedLayout) execute(ctx context.Context, w io.Writer, data any, content int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.run = &layoutRun{ctx: ctx, deadline: time.Now().Add(LayoutTimeout), max: content + MaxLayoutFrame}
	defer func() { g.run = nil }()
	err := g.h.Execute(limitedWriter{w: w, run: g.run}, data)
	if err == nil {
		return nil
	}
	var oe *outputError
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("layout stopped: %w", err)
	case errors.As(err, &oe):
		return &LayoutError{"html", "the template is too much work: " + oe.Error()}
	case errors.Is(err, errLayoutSteps):
		return &LayoutError{"html", "the template is too much work: " + errLayoutSteps.Error()}
	case errors.Is(err, errLayoutTimeout):
		return &LayoutError{"html", "the template is too much work: " + errLayoutTimeout.Error()}
	}
	return &LayoutError{"html", trimTemplateErr(err)}
}
