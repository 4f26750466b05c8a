// Package scaffold generates the source of a new tasker handler plugin: a
// Go module with one handler, its test, a task template, a Makefile and a
// README (tasker new plugin). The file templates live in files/.
package scaffold

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"go/format"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"github.com/tasker-systems/tasker/pluginsdk/wire"
)

// Version is the version of a generated plugin.
const Version = "0.1.0"

// DefaultTaskerVersion is the version of github.com/tasker-systems/tasker
// a generated go.mod requires. tasker is not published on a module proxy,
// so it is the placeholder the go command uses for modules that a replace
// directive provides.
const DefaultTaskerVersion = "v0.0.0-00010101000000-000000000000"

// goVersion is the go directive of a generated go.mod: tasker's own.
const goVersion = "1.26.0"

//go:embed files/*.tmpl
var files embed.FS

var tmpl = template.Must(template.ParseFS(files, "files/*.tmpl"))

// Options describe the plugin to generate.
type Options struct {
	// Name is the plugin's name (see ValidName).
	Name string
	// Dir is where to write it; it must not exist or be empty. Empty
	// means DefaultDir(Name).
	Dir string
	// Module is the module path; empty means example.com/<Name>.
	Module string
	// TaskerSource, when set, is the directory of a tasker source checkout
	// that go.mod's replace directive points at; it is made absolute.
	TaskerSource string
	// TaskerVersion is the version of tasker go.mod requires; empty means
	// DefaultTaskerVersion.
	TaskerVersion string
}

// DefaultDir is where a plugin is generated when Options.Dir is empty.
func DefaultDir(name string) string { return "./" + wire.FilePrefix + name }

var (
	firstRE  = regexp.MustCompile(`^[a-z0-9]`)
	moduleRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~/-]*$`)
)

// ValidName checks a plugin name: lowercase letters, digits, '-' and '_'
// (the rule for plugin file names), starting with a letter or digit (so
// that it also makes a valid task template name).
func ValidName(name string) error {
	if !wire.ValidName(name) || !firstRE.MatchString(name) {
		return fmt.Errorf("invalid plugin name %q: use lowercase letters, digits, '-' and '_', starting with a letter or digit", name)
	}
	return nil
}

// data is what the file templates see.
type data struct {
	Name, Version, FileName, Module, GoVersion string
	TaskerSource, TaskerVersion                string
}

// outputs maps each file template to the file it generates.
func outputs(name string) [][2]string {
	return [][2]string{
		{"go.mod.tmpl", "go.mod"},
		{"main.go.tmpl", "main.go"},
		{"handler.go.tmpl", "handler.go"},
		{"handler_test.go.tmpl", "handler_test.go"},
		{"template.yaml.tmpl", filepath.Join("templates", name+".yaml")},
		{"Makefile.tmpl", "Makefile"},
		{"README.md.tmpl", "README.md"},
		{"gitignore.tmpl", ".gitignore"},
	}
}

// Generate writes the plugin described by o and returns the directory and
// the files it wrote, relative to it.
func Generate(o Options) (dir string, written []string, err error) {
	if err := ValidName(o.Name); err != nil {
		return "", nil, err
	}
	d := data{
		Name: o.Name, Version: Version, FileName: wire.FileName(o.Name, Version),
		Module: o.Module, GoVersion: goVersion, TaskerVersion: o.TaskerVersion,
	}
	if d.Module == "" {
		d.Module = "example.com/" + o.Name
	}
	if !moduleRE.MatchString(d.Module) || strings.Contains(d.Module, "//") || strings.HasSuffix(d.Module, "/") {
		return "", nil, fmt.Errorf("invalid module path %q", d.Module)
	}
	if d.TaskerVersion == "" {
		d.TaskerVersion = DefaultTaskerVersion
	}
	if o.TaskerSource != "" {
		src, err := taskerSource(o.TaskerSource)
		if err != nil {
			return "", nil, err
		}
		d.TaskerSource = src
	}
	dir = o.Dir
	if dir == "" {
		dir = DefaultDir(o.Name)
	}
	if err := emptyDir(dir); err != nil {
		return "", nil, err
	}
	for _, out := range outputs(o.Name) {
		var buf bytes.Buffer
		if err := tmpl.ExecuteTemplate(&buf, out[0], d); err != nil {
			return dir, written, fmt.Errorf("scaffold: %s: %w", out[1], err)
		}
		src := buf.Bytes()
		if strings.HasSuffix(out[1], ".go") {
			if src, err = format.Source(src); err != nil {
				return dir, written, fmt.Errorf("scaffold: formatting %s: %w", out[1], err)
			}
		}
		path := filepath.Join(dir, out[1])
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return dir, written, err
		}
		if err := os.WriteFile(path, src, 0o644); err != nil {
			return dir, written, err
		}
		written = append(written, out[1])
	}
	return dir, written, nil
}

// taskerSource checks that dir holds tasker's source and returns it as an
// absolute path, quoted for go.mod when it needs to be.
func taskerSource(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	mod, err := os.ReadFile(filepath.Join(abs, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("--tasker-source %s: %w", dir, err)
	}
	if !regexp.MustCompile(`(?m)^module\s+github\.com/tasker-systems/tasker\s*$`).Match(mod) {
		return "", fmt.Errorf("--tasker-source %s: its go.mod is not that of github.com/tasker-systems/tasker", dir)
	}
	if strings.ContainsAny(abs, " \t\"'`\\") {
		return strconv.Quote(abs), nil
	}
	return abs, nil
}

// emptyDir refuses a dir that exists and is not an empty directory.
func emptyDir(dir string) error {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s exists and is not a directory", dir)
	}
	if _, err := f.Readdirnames(1); err != io.EOF {
		if err == nil {
			return fmt.Errorf("%s exists and is not empty; choose another --dir", dir)
		}
		return err
	}
	return nil
}
