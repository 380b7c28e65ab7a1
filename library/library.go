// Package library is msgflo's component library: which command starts a
// participant of each component. It reads the same configuration msgflo
// reads (the "msgflo" key of package.json, or a plain JSON file) and scans
// a component directory for files the handlers know.
package library

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/msgflo/msgflo-runtime/internal/jsontext"
)

// DefaultHandlers are msgflo's, plus one for Go participants.
var DefaultHandlers = map[string]string{
	".yml":    "msgflo-register --role #ROLE:#FILENAME",
	".js":     "msgflo-nodejs --name #ROLE #FILENAME",
	".coffee": "msgflo-nodejs --name #ROLE #FILENAME",
	".py":     "msgflo-python #FILENAME #ROLE",
	".json":   "noflo-runtime-msgflo --name #ROLE --graph #COMPONENT --iips #IIPS",
	".fbp":    "noflo-runtime-msgflo --name #ROLE --graph #COMPONENT --iips #IIPS",
	".go":     "go run #FILENAME --role #ROLE",
}

var extensionLanguage = map[string]string{
	".py": "python", ".coffee": "coffeescript", ".js": "javascript", ".cpp": "c++",
	".rs": "rust", ".yml": "yaml", ".go": "go", ".json": "json", ".fbp": "fbp",
}

// Config is a library configuration.
type Config struct {
	Components map[string]string `json:"components"`
	Handlers   map[string]string `json:"handlers"`
	Variables  map[string]string `json:"variables"`
	Namespace  string            `json:"namespace"`
	Repository string            `json:"repository"`
}

// Component is a component the library can start.
type Component struct {
	Name string
	// Command is the command template, the library's variables expanded
	// (they are the owner's template text). Its placeholders are filled
	// by Command, each as one literal shell word.
	Command string
	// File is the component's source file, when it comes from one.
	File     string
	Language string
	values   map[string]string // #FILENAME, #COMPONENT, #COMPONENTNAME
	tmpl     *template         // Command, read
}

// Library is a loaded library.
type Library struct {
	Config     Config
	Dir        string
	components map[string]*Component
	handlers   map[string]*template // by extension, read once
}

// Load reads the configuration in path (a missing file gives an empty
// configuration when optional is set: msgflo's default package.json need
// not exist) and scans dir. A command template that puts a placeholder
// where a shell would read its value as code is refused, naming the
// component (or handler) and the placeholder.
func Load(path string, optional bool, dir string) (*Library, error) {
	cfg := Config{}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if cfg, err = parseConfig(data); err != nil {
			return nil, fmt.Errorf("library %s: %w", path, err)
		}
	case errors.Is(err, os.ErrNotExist) && optional:
	default:
		return nil, fmt.Errorf("library %s: %w", path, err)
	}
	normalize(&cfg)
	l := &Library{Config: cfg, Dir: dir, components: map[string]*Component{}, handlers: map[string]*template{}}
	if err := l.readHandlers(); err != nil {
		return nil, fmt.Errorf("library %s: %w", path, err)
	}
	if err := l.scan(); err != nil {
		return nil, err
	}
	if err := l.readComponents(); err != nil {
		return nil, fmt.Errorf("library %s: %w", path, err)
	}
	return l, nil
}

// readHandlers reads every handler's command template.
func (l *Library) readHandlers() error {
	for _, ext := range sortedKeys(l.Config.Handlers) {
		t, err := parseTemplate(l.expand(l.Config.Handlers[ext]), func(string) bool { return true })
		if err != nil {
			return fmt.Errorf("handler %s: %w", ext, err)
		}
		l.handlers[ext] = t
	}
	return nil
}

// readComponents reads every component's command template; they take
// the place of component files of the same name.
func (l *Library) readComponents() error {
	for _, name := range sortedKeys(l.Config.Components) {
		c := l.component(name, "")
		t, err := parseTemplate(l.expand(l.Config.Components[name]), func(p string) bool { return p != "FILENAME" })
		if err != nil {
			return fmt.Errorf("component %s: %w", name, err)
		}
		c.Command, c.tmpl = t.text, t
		l.components[name] = c
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func parseConfig(data []byte) (Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return Config{}, fmt.Errorf("not a JSON object: %w", err)
	}
	var cfg Config
	src := data
	if m, ok := raw["msgflo"]; ok {
		src = m
	}
	var loose struct {
		Components map[string]string `json:"components"`
		Handlers   map[string]string `json:"handlers"`
		Variables  map[string]any    `json:"variables"`
		Namespace  string            `json:"namespace"`
		Repository json.RawMessage   `json:"repository"`
	}
	if err := json.Unmarshal(src, &loose); err != nil {
		return Config{}, fmt.Errorf("msgflo configuration: %w", err)
	}
	cfg.Components, cfg.Handlers, cfg.Namespace = loose.Components, loose.Handlers, loose.Namespace
	cfg.Variables = map[string]string{}
	for k, v := range loose.Variables {
		cfg.Variables[k] = fmt.Sprint(v)
	}
	cfg.Repository = repositoryOf(loose.Repository)
	// package.json conventions: name is the namespace, repository.url.
	if _, inPackage := raw["msgflo"]; inPackage {
		var pkg struct {
			Name       string          `json:"name"`
			Repository json.RawMessage `json:"repository"`
		}
		_ = json.Unmarshal(data, &pkg)
		if cfg.Namespace == "" {
			cfg.Namespace = pkg.Name
		}
		if cfg.Repository == "" {
			cfg.Repository = repositoryOf(pkg.Repository)
		}
	}
	return cfg, nil
}

func repositoryOf(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var r struct{ URL string }
	if json.Unmarshal(raw, &r) == nil {
		return r.URL
	}
	return ""
}

func normalize(c *Config) {
	if c.Components == nil {
		c.Components = map[string]string{}
	}
	if c.Variables == nil {
		c.Variables = map[string]string{}
	}
	if c.Handlers == nil {
		c.Handlers = map[string]string{}
	}
	for ext, cmd := range DefaultHandlers {
		if c.Handlers[ext] == "" {
			c.Handlers[ext] = cmd
		}
	}
}

// scan registers the component files in Dir.
func (l *Library) scan() error {
	if l.Dir == "" {
		return nil
	}
	entries, err := os.ReadDir(l.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("component directory %s: %w", l.Dir, err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		l.addFile(filepath.Join(l.Dir, e.Name()))
	}
	return nil
}

// AddFile registers a component file (written by component:source); nil
// when no handler runs its extension.
func (l *Library) AddFile(path string) *Component { return l.addFile(path) }

func (l *Library) addFile(path string) *Component {
	ext := filepath.Ext(path)
	t, ok := l.handlers[ext]
	if !ok {
		return nil
	}
	base := strings.TrimSuffix(filepath.Base(path), ext)
	name := base
	if l.Config.Namespace != "" {
		name = l.Config.Namespace + "/" + base
	}
	c := l.component(base, path)
	c.Name, c.File, c.Language = name, path, extensionLanguage[ext]
	c.Command, c.tmpl = t.text, t
	l.components[name] = c
	return c
}

// expand expands the library's variables in a command template (as
// msgflo does, they may hold placeholders).
func (l *Library) expand(cmd string) string {
	vars := map[string]string{}
	for k, v := range l.Config.Variables {
		if !slices.Contains(placeholders, strings.ToUpper(k)) {
			vars[k] = v
		}
	}
	return replace(cmd, vars)
}

// component makes a component (its command is set by the caller):
// #FILENAME, #COMPONENT and #COMPONENTNAME are values, filled by Command.
func (l *Library) component(component, filename string) *Component {
	values := map[string]string{}
	if filename != "" {
		if strings.HasPrefix(filename, "-") {
			filename = "./" + filename
		}
		values["FILENAME"] = filename
	}
	name := component
	if i := strings.Index(component, "/"); i >= 0 {
		name = strings.SplitN(component, "/", 3)[1]
	}
	values["COMPONENTNAME"] = name
	values["COMPONENT"] = component
	return &Component{Name: component, values: values}
}

func replace(s string, vars map[string]string) string {
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	// Longer markers first, so #COMPONENTNAME is not taken for #COMPONENT.
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		s = strings.ReplaceAll(s, "#"+strings.ToUpper(k), vars[k])
	}
	return s
}

// Get finds a component by name, also without or with the namespace.
func (l *Library) Get(name string) (*Component, bool) {
	if c, ok := l.components[name]; ok {
		return c, true
	}
	if c, ok := l.components[filepath.Base(name)]; ok {
		return c, true
	}
	if !strings.Contains(name, "/") && l.Config.Namespace != "" {
		c, ok := l.components[l.Config.Namespace+"/"+name]
		return c, ok
	}
	return nil, false
}

// Components lists the library's components by name.
func (l *Library) Components() []*Component {
	out := make([]*Component, 0, len(l.components))
	for _, c := range l.components {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Command is the shell text that starts a participant of component c
// under role, with initial packets iips (what msgflo's procfile prints).
// Every value (the role, the initial packets as JSON, the file and
// component names) is one literal word; none may start with '-' (it would
// be an option of the program).
func (l *Library) Command(c *Component, role string, iips map[string]any) (string, error) {
	text, _, err := l.command(c, role, iips)
	return text, err
}

// Script is Command to run under a shell: when the template is one simple
// command, the shell execs its program, so that the program replaces the
// shell (it gets the signals, and dies with the runtime).
func (l *Library) Script(c *Component, role string, iips map[string]any) (string, error) {
	text, program, err := l.command(c, role, iips)
	if err != nil || program < 0 {
		return text, err
	}
	return text[:program] + "exec " + text[program:], nil
}

func (l *Library) command(c *Component, role string, iips map[string]any) (string, int, error) {
	data, err := iipsJSON(iips)
	if err != nil {
		return "", -1, fmt.Errorf("initial packets of %s: %w", role, err)
	}
	values := map[string]string{"ROLE": role, "IIPS": data}
	for k, v := range c.values {
		values[k] = v
	}
	for _, k := range placeholders {
		v, ok := values[k]
		switch {
		case ok && strings.HasPrefix(v, "-"):
			return "", -1, fmt.Errorf("#%s %q: %w", k, v, ErrOptionValue)
		case ok && strings.IndexByte(v, 0) >= 0:
			return "", -1, fmt.Errorf("#%s %q: %w", k, v, ErrNULValue)
		}
	}
	text, program := c.tmpl.render(values)
	return text, program, nil
}

// CheckUploadDir refuses a component directory that clients may write
// code into (component:source) when it holds the library's configuration
// (the library file, a package.json) or one of the other files given (the
// graph file): an upload would replace them.
func CheckUploadDir(dir string, protected ...string) error {
	if dir == "" {
		return errors.New("needs a component directory (--componentdir)")
	}
	d, err := resolve(dir)
	if err != nil {
		return err
	}
	pkg := filepath.Join(dir, "package.json")
	if _, err := os.Lstat(pkg); err == nil {
		protected = append(protected, pkg)
	}
	for _, p := range protected {
		if p == "" {
			continue
		}
		f, err := resolve(p)
		if err != nil {
			return err
		}
		if f == d || strings.HasPrefix(f, d+string(filepath.Separator)) {
			return fmt.Errorf("the component directory %s holds %s: an upload could replace it; use a directory of its own", dir, p)
		}
	}
	return nil
}

// resolve makes path absolute with its symbolic links resolved, as far as
// it exists.
func resolve(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	rest := ""
	for {
		r, err := filepath.EvalSymlinks(abs)
		if err == nil {
			return filepath.Join(r, rest), nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(abs)
		if parent == abs {
			return filepath.Join(abs, rest), nil
		}
		rest = filepath.Join(filepath.Base(abs), rest)
		abs = parent
	}
}

// iipsJSON is the JSON object of a node's initial packets, by port, as
// #IIPS gives it: the packets' JSON text as it is (json.Marshal would
// escape <, > and & inside it).
func iipsJSON(iips map[string]any) (string, error) {
	if iips == nil {
		return "{}", nil
	}
	data, err := jsontext.Marshal(iips)
	return string(data), err
}
