package wire

// The component sub-protocol: the component library and sources.

func init() {
	register(decoder[ListComponents](), decoder[Component](), decoder[ComponentsReady](),
		decoder[GetSource](), decoder[Source]())
}

// ListComponents is component:list.
type ListComponents struct{}

// Component is component:component.
type Component struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Icon        string    `json:"icon,omitempty"`
	Subgraph    bool      `json:"subgraph"`
	InPorts     []PortDef `json:"inPorts"`
	OutPorts    []PortDef `json:"outPorts"`
}

// ComponentsReady is component:componentsready: how many components the
// list gave.
type ComponentsReady int

// GetSource is component:getsource.
type GetSource struct {
	Name string `json:"name"`
}

// Source is component:source (both directions).
type Source struct {
	Name     string `json:"name"`
	Language string `json:"language"`
	Library  string `json:"library,omitempty"`
	Code     string `json:"code"`
	Tests    string `json:"tests,omitempty"`
}

func (ListComponents) Protocol() string  { return "component" }
func (ListComponents) Command() string   { return "list" }
func (Component) Protocol() string       { return "component" }
func (Component) Command() string        { return "component" }
func (ComponentsReady) Protocol() string { return "component" }
func (ComponentsReady) Command() string  { return "componentsready" }
func (GetSource) Protocol() string       { return "component" }
func (GetSource) Command() string        { return "getsource" }
func (Source) Protocol() string          { return "component" }
func (Source) Command() string           { return "source" }
