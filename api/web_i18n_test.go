package api

import (
	"go/ast"
	"go/parser"
	"go/token"
	htmltemplate "html/template"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"text/template/parse"
	"time"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/store"
)

// TestStaffWordsExistInBothLanguagesAndEveryUsedKeyExists: the catalog
// loads (every key in sv and en), every key a template passes to t is in
// it, and so is every key-shaped string in the page handlers' Go code and
// every value that roleName, statusName and campaignStatus translate.
func TestStaffWordsExistInBothLanguagesAndEveryUsedKeyExists(t *testing.T) {
	w, err := loadWebUI(time.Now)
	if err != nil {
		t.Fatal(err)
	}
	cat := w.cats["sv"]
	if len(cat) < 100 || len(w.cats["en"]) != len(cat) {
		t.Fatalf("catalogs: sv %d keys, en %d", len(cat), len(w.cats["en"]))
	}
	used := map[string]string{}
	for _, name := range append([]string{"layout"}, webScreens...) {
		tm, err := htmltemplate.New(name).Funcs(w.funcs("sv", time.Now)).ParseFS(webFS, "web/templates/"+name+".html")
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range tm.Templates() {
			if tt.Tree == nil {
				continue
			}
			walk(tt.Tree.Root, func(cmd *parse.CommandNode) {
				if len(cmd.Args) < 2 {
					return
				}
				id, ok := cmd.Args[0].(*parse.IdentifierNode)
				if !ok || id.Ident != "t" {
					return
				}
				s, ok := cmd.Args[1].(*parse.StringNode)
				if !ok {
					t.Errorf("%s: t with a key that is not a literal: %s", name, cmd)
					return
				}
				used[s.Text] = name + ".html"
			})
		}
	}
	if len(used) < 80 {
		t.Fatalf("found only %d keys in the templates; is the walk broken?", len(used))
	}
	// Key-shaped literals in the Go code of the staff pages.
	namespaces := map[string]bool{}
	for k := range cat {
		namespaces[strings.SplitN(k, ".", 2)[0]] = true
	}
	keyRE := regexp.MustCompile(`^[a-z_]+\.[a-z_.]*[a-z]$`)
	files, _ := filepath.Glob("web*.go")
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		// An audit action ("account.twofactor_refused") has the shape of
		// a key but names what happened, not words to show.
		actions := map[token.Pos]bool{}
		ast.Inspect(af, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "SetAction" {
					for _, a := range call.Args {
						actions[a.Pos()] = true
					}
				}
			}
			return true
		})
		ast.Inspect(af, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if ok && actions[lit.Pos()] {
				return true
			}
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, _ := strconv.Unquote(lit.Value)
			if keyRE.MatchString(s) && namespaces[strings.SplitN(s, ".", 2)[0]] && !strings.Contains(s, "/") {
				used[s] = fset.Position(lit.Pos()).String()
			}
			return true
		})
	}
	for _, r := range []string{store.RoleAdmin, store.RoleEditor, store.RoleViewer} {
		used["role."+r], used["role."+r+"_desc"] = "roleName", "roleDesc"
	}
	for _, g := range store.GrantRoles {
		used["perm.grant_"+g], used["perm.grant_"+g+"_desc"] = "grantName", "grantDesc"
	}
	for _, s := range []string{store.UserInvited, store.UserActive, store.UserDeactivated} {
		used["status."+s] = "statusName"
	}
	for _, s := range []string{store.CampaignDraft, store.CampaignScheduled, store.CampaignSending, store.CampaignPaused, store.CampaignSent, store.CampaignCancelled} {
		used["campaign_status."+s] = "campaignStatus"
	}
	for _, p := range []string{store.PurposeInvite, store.PurposeReset, store.PurposeSetup} {
		used["password.title_"+p] = "passwordData"
	}
	for k, where := range used {
		for _, lang := range mailtemplates.Languages {
			if _, ok := w.cats[lang][k]; !ok {
				t.Errorf("%s uses key %q, missing in %s.json", where, k, lang)
			}
		}
	}
}

func walk(n parse.Node, f func(*parse.CommandNode)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			for _, c := range n.Nodes {
				walk(c, f)
			}
		}
	case *parse.ActionNode:
		walk(n.Pipe, f)
	case *parse.PipeNode:
		if n != nil {
			for _, c := range n.Cmds {
				walk(c, f)
			}
		}
	case *parse.CommandNode:
		f(n)
		for _, a := range n.Args {
			walk(a, f)
		}
	case *parse.IfNode:
		walk(n.Pipe, f)
		walk(n.List, f)
		walk(n.ElseList, f)
	case *parse.RangeNode:
		walk(n.Pipe, f)
		walk(n.List, f)
		walk(n.ElseList, f)
	case *parse.WithNode:
		walk(n.Pipe, f)
		walk(n.List, f)
		walk(n.ElseList, f)
	case *parse.TemplateNode:
		walk(n.Pipe, f)
	}
}

func TestFormatNumAndElapsed(t *testing.T) {
	for _, tc := range []struct {
		n      int64
		sv, en string
	}{{0, "0", "0"}, {999, "999", "999"}, {1000, "1\u202f000", "1,000"}, {1234567, "1\u202f234\u202f567", "1,234,567"}, {-12345, "-12\u202f345", "-12,345"}} {
		if got := formatNum(tc.n, "sv"); got != tc.sv {
			t.Errorf("sv %d: %q", tc.n, got)
		}
		if got := formatNum(tc.n, "en"); got != tc.en {
			t.Errorf("en %d: %q", tc.n, got)
		}
	}
	w, _ := loadWebUI(time.Now)
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{{10 * time.Second, "just nu"}, {5 * time.Minute, "för 5 min sedan"}, {3 * time.Hour, "för 3 tim sedan"}, {72 * time.Hour, "för 3 dagar sedan"}} {
		if got := elapsed(w.cats["sv"], tc.d); got != tc.want {
			t.Errorf("%s: %q", tc.d, got)
		}
	}
}
