package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/store"
	"github.com/storsthlm/utskick/worker"
)

const usersUsage = `usage:
  utskick users add EMAIL --role admin|editor|viewer [--name NAME] [--lang sv|en]
      make a user and print a one-time link to set the password
  utskick users link EMAIL
      print a new one-time link for a user (a lost invitation, a forgotten password)
  utskick users list
      list the users`

// runUsers is `utskick users …`: staff accounts from the command line,
// for the first admin and for getting back in without mail.
func runUsers(ctx context.Context, cfg *config, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usersUsage)
		return 2
	}
	fs := flag.NewFlagSet("utskick users "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, usersUsage) }
	role := fs.String("role", "", "admin, editor or viewer")
	name := fs.String("name", "", "the person's name")
	lang := fs.String("lang", "sv", "sv or en: the language of the workspace for them")
	// The address may come before the flags or after them.
	rest, email := args[1:], ""
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		email, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	if email == "" && fs.NArg() > 0 {
		email = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	st, err := openStore(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintf(stderr, "utskick users: %v\n", err)
		return 1
	}
	defer st.Close()
	by := store.Actor{Source: "cli"}
	switch args[0] {
	case "add":
		if email == "" || !store.ValidRole(*role) || !store.ValidUserLang(*lang) {
			fmt.Fprintln(stderr, "utskick users add: give an address, --role admin, editor or viewer, and --lang sv or en")
			return 2
		}
		u := &store.User{Email: email, Name: *name, Role: *role, Lang: *lang}
		if err := st.CreateUser(ctx, u, by); err != nil {
			if errors.Is(err, store.ErrConflict) {
				err = fmt.Errorf("%w; `utskick users link %s` prints a new link for that user", err, email)
			}
			fmt.Fprintf(stderr, "utskick users add: %v\n", err)
			return 1
		}
		return printLink(ctx, st, cfg, u, stdout, stderr)
	case "link":
		u, err := st.UserByEmail(ctx, email)
		if err != nil {
			fmt.Fprintf(stderr, "utskick users link: %v\n", err)
			return 1
		}
		if u.Status == store.UserDeactivated {
			fmt.Fprintf(stderr, "utskick users link: %s is deactivated; an admin can reactivate the account in Settings → Users\n", u.Email)
			return 1
		}
		return printLink(ctx, st, cfg, u, stdout, stderr)
	case "list":
		us, err := st.Users(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "utskick users list: %v\n", err)
			return 1
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tROLE\tSTATUS\tLANG\tLAST SIGN-IN")
		for _, u := range us {
			last := "never"
			if u.LastSigninAt != nil {
				last = mailtemplates.LocalTime(*u.LastSigninAt, "en")
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Name, u.Role, u.Status, u.Lang, last)
		}
		tw.Flush()
		return 0
	}
	fs.Usage()
	return 2
}

// printLink makes and prints a one-time link for u: an invitation for
// someone who never set a password, a reset for everyone else.
func printLink(ctx context.Context, st *store.Store, cfg *config, u *store.User, stdout, stderr io.Writer) int {
	purpose := store.PurposeReset
	if u.Status == store.UserInvited {
		purpose = store.PurposeInvite
	}
	secret, until, err := st.CreateUserToken(ctx, u.ID, purpose)
	if err != nil {
		fmt.Fprintf(stderr, "utskick users: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s (%s, %s). Open this link to set the password; it works once, until %s:\n\n    %s\n\n",
		u.Email, u.Role, u.Status, mailtemplates.LocalTime(until, "en"), worker.SetPasswordURL(cfg.BaseURL, secret))
	return 0
}

// openStore opens the database as the service would, migrating it when
// UTSKICK_AUTO_MIGRATE allows.
func openStore(ctx context.Context, cfg *config, log *slog.Logger) (*store.Store, error) {
	secret, err := loadSecret(cfg)
	if err != nil {
		return nil, err
	}
	opts := store.Options{DSN: cfg.DatabaseURL, Log: log, AddressKey: store.DeriveAddressKey(secret)}
	if cfg.AutoMigrate {
		return store.Open(ctx, opts)
	}
	return store.OpenNoMigrate(opts)
}

// bootstrapUsers makes sure someone can sign in to the workspace: while
// there are no users, a first-run link to create the first admin is
// printed, once for as long as it works (seven days).
func bootstrapUsers(ctx context.Context, st *store.Store, cfg *config, log *slog.Logger, stdout io.Writer) error {
	n, err := st.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	live, err := st.LiveSetupLink(ctx)
	if err != nil {
		return err
	}
	if live {
		log.Warn("no staff users yet: use the first-run link printed at an earlier start, or run `utskick users add EMAIL --role admin`")
		return nil
	}
	secret, until, err := st.CreateUserToken(ctx, 0, store.PurposeSetup)
	if err != nil {
		return fmt.Errorf("first-run link: %w", err)
	}
	fmt.Fprintf(stdout, "\nFirst start: nobody can sign in to the web workspace yet. Open this link to create the first admin account; it works once, until %s:\n\n    %s\n\n",
		mailtemplates.LocalTime(until, "en"), worker.SetPasswordURL(cfg.BaseURL, secret))
	log.Warn("printed the first-run link of the web workspace on stdout; it is not shown again")
	return nil
}
