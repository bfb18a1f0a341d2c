package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose parses a compose file and validates it against the
// Compose specification's schema (compose-go is the reference loader
// that Docker Compose itself uses). No Docker engine is needed.
func loadCompose(t *testing.T, path string) (*types.Project, error) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  filepath.Dir(path),
		ConfigFiles: []types.ConfigFile{{Filename: path, Content: b}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) {
		o.SetProjectName("utskick", true)
		o.SkipResolveEnvironment = true
		o.ResolvePaths = false
	})
}

// TestComposeFileFollowsTheSpecAndTheSettings checks docker-compose.yml as
// far as a machine without a Docker engine can: it is a valid Compose
// file, every utskick service runs a subcommand the binary has, with
// settings the binary accepts, and workers get more time to stop than
// utskick's own shutdown timeout.
func TestComposeFileFollowsTheSpecAndTheSettings(t *testing.T) {
	for _, p := range composeProblems(t, "../../docker-compose.yml") {
		t.Error(p)
	}
}

// TestComposeCheckFindsEachKindOfMistake shows that each check can fail,
// on copies of the real file with one mistake each.
func TestComposeCheckFindsEachKindOfMistake(t *testing.T) {
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, old, new, want string
	}{
		{"misspelt key", "    stop_grace_period:", "    stop_grace_periode:", "not a valid Compose file"},
		{"unknown subcommand", `command: ["work"]`, `command: ["worker"]`, `no subcommand "worker"`},
		{"unknown setting", "UTSKICK_BASE_URL:", "UTSKICK_BASEURL:", "no setting UTSKICK_BASEURL"},
		{"invalid value", "UTSKICK_REDIS_URL: redis://redis:6379/0", "UTSKICK_REDIS_URL: http://redis:6379/0", "refuse its settings"},
		{"serve without redis", "UTSKICK_REDIS_URL: redis://redis:6379/0", "UTSKICK_LOG_LEVEL: info", "needs UTSKICK_REDIS_URL"},
		{"grace too short", "stop_grace_period: 40s", "stop_grace_period: 20s", "stop_grace_period 20s"},
		{"secret not mounted", "UTSKICK_SECRET_FILE: /run/secrets/utskick_secret", "UTSKICK_SECRET_FILE: /run/secrets/other", "not a secret the service mounts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(string(b), tc.old, tc.new, 1)
			if bad == string(b) {
				t.Fatalf("docker-compose.yml has no %q to change", tc.old)
			}
			path := filepath.Join(t.TempDir(), "docker-compose.yml")
			if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
				t.Fatal(err)
			}
			problems := composeProblems(t, path)
			if !strings.Contains(strings.Join(problems, "\n"), tc.want) {
				t.Fatalf("want a problem containing %q, got %q", tc.want, problems)
			}
		})
	}
}

// composeProblems lists what is wrong with the compose file at path.
func composeProblems(t *testing.T, path string) []string {
	t.Helper()
	p, err := loadCompose(t, path)
	if err != nil {
		return []string{fmt.Sprintf("%s is not a valid Compose file: %v", path, err)}
	}
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(strings.Repeat("s", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	known := map[string]setting{}
	for _, s := range settings {
		known[s.name] = s
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	utskick := 0
	for name, svc := range p.Services {
		if svc.Build == nil && !strings.HasPrefix(svc.Image, "utskick") {
			continue
		}
		utskick++
		if len(svc.Command) != 1 {
			bad("service %s: command %q: want one utskick subcommand", name, svc.Command)
			continue
		}
		cmd := svc.Command[0]
		switch cmd {
		case "all", "serve", "work", "migrate":
		default:
			bad("service %s: utskick has no subcommand %q", name, cmd)
		}
		env := map[string]string{}
		for k, v := range svc.Environment {
			if v == nil {
				bad("service %s: %s has no value", name, k)
				continue
			}
			base, isFile := strings.CutSuffix(k, "_FILE")
			s, ok := known[base]
			switch {
			case isFile && ok && s.secret:
				// The file is a Docker secret; its path must be one the
				// service mounts. Here it is stood in for by a file.
				if !mountsSecret(svc, *v) {
					bad("service %s: %s=%s is not a secret the service mounts", name, k, *v)
				}
				env[k] = secretFile
			case !ok || isFile:
				bad("service %s: utskick has no setting %s", name, k)
			default:
				env[k] = *v
			}
		}
		cfg, err := loadConfig(func(k string) string { return env[k] })
		if err != nil {
			bad("service %s: utskick would refuse its settings:\n%v", name, err)
			continue
		}
		if err := cfg.validateFor(cmd); err != nil {
			bad("service %s: %v", name, err)
		}
		if cmd == "work" || cmd == "all" {
			grace := 10 * time.Second // Docker's default
			if svc.StopGracePeriod != nil {
				grace = time.Duration(*svc.StopGracePeriod)
			}
			if grace <= cfg.ShutdownTimeout {
				bad("service %s: stop_grace_period %v is not longer than UTSKICK_SHUTDOWN_TIMEOUT %v: Docker would kill senders mid-drain",
					name, grace, cfg.ShutdownTimeout)
			}
		}
	}
	if utskick < 2 {
		bad("found %d utskick services; the file runs an API and workers", utskick)
	}
	return problems
}

func mountsSecret(svc types.ServiceConfig, path string) bool {
	for _, s := range svc.Secrets {
		target := s.Target
		if target == "" {
			target = s.Source
		}
		if !strings.HasPrefix(target, "/") {
			target = "/run/secrets/" + target
		}
		if target == path {
			return true
		}
	}
	return false
}
