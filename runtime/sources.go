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

	"github.com/msgflo/msgflo-runtime/protocol/wire"
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
func (r *Runtime) SetSource(p wire.Source) (wire.Component, error) {
	defer r.events.flush()
	if !r.opts.AllowSetSource {
		return wire.Component{}, ErrSetSourceDisabled
	}
	if r.opts.Library == nil || r.opts.Library.Dir == "" {
		return wire.Component{}, errors.New("component:source needs a component directory (--componentdir)")
	}
	name := p.Name
	if strings.Contains(name, "/") {
		return wire.Component{}, fmt.Errorf("component name %q may not contain '/'", name)
	}
	if !componentFileName.MatchString(name) || strings.Contains(name, "..") {
		return wire.Component{}, fmt.Errorf("component name %q is not a file name (letters, digits, '_', '-', '.')", name)
	}
	ext, ok := languageExtension[strings.ToLower(p.Language)]
	if !ok {
		return wire.Component{}, fmt.Errorf("language %q is not one the library can run", p.Language)
	}
	if len(p.Code) > MaxSourceBytes {
		return wire.Component{}, fmt.Errorf("code of %s is %d bytes, more than the %d allowed", name, len(p.Code), MaxSourceBytes)
	}
	if len(p.Tests) > MaxSourceBytes {
		return wire.Component{}, fmt.Errorf("tests of %s are %d bytes, more than the %d allowed", name, len(p.Tests), MaxSourceBytes)
	}
	if _, ok := r.opts.Library.Config.Handlers[ext]; !ok { // fixed once the library is loaded
		return wire.Component{}, fmt.Errorf("no handler runs %s files", ext)
	}
	// The file is written (and synced) outside the runtime's lock, one
	// upload at a time so that the directory's file count holds.
	dir := r.opts.Library.Dir
	r.uploads.Lock()
	err := writeComponentFile(dir, name+ext, []byte(p.Code))
	r.uploads.Unlock()
	if err != nil {
		return wire.Component{}, fmt.Errorf("component %s: %w", name, err)
	}
	if p.Tests != "" {
		r.uploads.Lock()
		err = writeTests(dir, name, []byte(p.Tests))
		r.uploads.Unlock()
		if err != nil {
			return wire.Component{}, fmt.Errorf("tests of %s: %w", name, err)
		}
	}
	pl, ok := r.catalog.addFile(filepath.Join(dir, name+ext))
	if !ok {
		return wire.Component{}, fmt.Errorf("no handler runs %s files", ext)
	}
	r.events.push(pl)
	r.poke()
	return pl, nil
}

// TestsDir is the folder of the component directory that keeps the
// fbp-spec suites shipped with its components, NAME.yaml for the
// component NAME: component:source writes the tests it is given there, and
// component:getsource returns them (fbp-spec's --component-tests runs them).
const TestsDir = "spec"

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
	return writeInRoot(root, name, data)
}

// writeTests replaces the tests of component name, dir/spec/name.yaml,
// as writeComponentFile does: the spec folder is opened inside dir, so a
// symbolic link named spec leads nowhere outside it.
func writeTests(dir, name string, data []byte) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := root.Mkdir(TestsDir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	sub, err := root.OpenRoot(TestsDir)
	if err != nil {
		return err
	}
	defer sub.Close()
	return writeInRoot(sub, name+".yaml", data)
}

// writeInRoot replaces name in root with data, atomically, while root
// holds fewer than MaxComponentFiles entries.
func writeInRoot(root *os.Root, name string, data []byte) error {
	if _, err := root.Lstat(name); errors.Is(err, fs.ErrNotExist) {
		entries, err := fs.ReadDir(root.FS(), ".")
		if err != nil {
			return err
		}
		if len(entries) >= MaxComponentFiles {
			return fmt.Errorf("the folder holds %d files, the most allowed", len(entries))
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

// readTests reads the tests of component name from dir/spec/name.yaml;
// none (and no error) when there is no such file.
func readTests(dir, name string) (string, error) {
	if !componentFileName.MatchString(name) || strings.Contains(name, "..") {
		return "", nil
	}
	data, err := readComponentFile(dir, filepath.Join(dir, TestsDir, name+".yaml"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return string(data), err
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
