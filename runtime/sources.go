package runtime

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Component sources: component:source writes a component file into the
// component directory (only with Options.AllowSetSource), and
// component:getsource reads one. Both stay inside the directory: every
// file operation goes through an os.Root of it, so neither a name nor a
// symbolic link leads out of it.

// MaxSourceBytes is the largest component:source code accepted.
const MaxSourceBytes = 1 << 20

// MaxComponentFiles is how many entries the component directory may hold
// before component:source refuses to add another file.
const MaxComponentFiles = 1000

// maxReadSourceBytes is the largest component file getsource returns.
const maxReadSourceBytes = 8 << 20

// ErrSetSourceDisabled refuses component:source without --allow-setsource.
var ErrSetSourceDisabled = errors.New("component:source is disabled: start the runtime with --allow-setsource to let clients write code it will run")

var componentFileName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

var languageExtension = map[string]string{
	"python": ".py", "coffeescript": ".coffee", "javascript": ".js", "c++": ".cpp",
	"rust": ".rs", "yaml": ".yml", "go": ".go", "json": ".json", "fbp": ".fbp",
}

// SetSource answers component:source: it writes the code into the
// component directory and registers the component.
func (r *Runtime) SetSource(p SourcePayload) (ComponentPayload, error) {
	if !r.opts.AllowSetSource {
		return ComponentPayload{}, ErrSetSourceDisabled
	}
	if r.opts.Library == nil || r.opts.Library.Dir == "" {
		return ComponentPayload{}, errors.New("component:source needs a component directory (--componentdir)")
	}
	name := p.Name
	if strings.Contains(name, "/") {
		return ComponentPayload{}, fmt.Errorf("component name %q may not contain '/'", name)
	}
	if !componentFileName.MatchString(name) || strings.Contains(name, "..") {
		return ComponentPayload{}, fmt.Errorf("component name %q is not a file name (letters, digits, '_', '-', '.')", name)
	}
	ext, ok := languageExtension[strings.ToLower(p.Language)]
	if !ok {
		return ComponentPayload{}, fmt.Errorf("language %q is not one the library can run", p.Language)
	}
	if len(p.Code) > MaxSourceBytes {
		return ComponentPayload{}, fmt.Errorf("code of %s is %d bytes, more than the %d allowed", name, len(p.Code), MaxSourceBytes)
	}
	if _, ok := r.opts.Library.Config.Handlers[ext]; !ok { // fixed once the library is loaded
		return ComponentPayload{}, fmt.Errorf("no handler runs %s files", ext)
	}
	// The file is written (and synced) outside the runtime's lock, one
	// upload at a time so that the directory's file count holds.
	dir := r.opts.Library.Dir
	r.uploads.Lock()
	err := writeComponentFile(dir, name+ext, []byte(p.Code))
	r.uploads.Unlock()
	if err != nil {
		return ComponentPayload{}, fmt.Errorf("component %s: %w", name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	lc := r.opts.Library.AddFile(filepath.Join(dir, name+ext))
	if lc == nil {
		return ComponentPayload{}, fmt.Errorf("no handler runs %s files", ext)
	}
	c, ok := r.components[lc.Name]
	if !ok {
		c = &component{name: lc.Name, inports: nil, outports: nil}
		r.components[lc.Name] = c
	}
	c.lib = lc
	pl := c.payload()
	r.emit("component", "component", pl)
	r.poke()
	return pl, nil
}

// writeComponentFile replaces dir/name with data, atomically, without
// leaving dir: a symbolic link named name is replaced, never written through.
func writeComponentFile(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	if _, err := root.Lstat(name); errors.Is(err, fs.ErrNotExist) {
		entries, err := fs.ReadDir(root.FS(), ".")
		if err != nil {
			return err
		}
		if len(entries) >= MaxComponentFiles {
			return fmt.Errorf("the component directory holds %d files, the most allowed", len(entries))
		}
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := "." + name + ".tmp" + hex.EncodeToString(rnd[:])
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		_ = root.Remove(tmp)
	}
	return err
}

// readComponentFile reads file, which must lie in dir, without following
// a symbolic link out of dir.
func readComponentFile(dir, file string) ([]byte, error) {
	rel, err := filepath.Rel(dir, file)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return nil, fmt.Errorf("%s is not in the component directory", file)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxReadSourceBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxReadSourceBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", rel, maxReadSourceBytes)
	}
	return data, nil
}
