package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaultsRunEmbedded(t *testing.T) {
	c, err := loadConfig(env(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:8080" || c.BaseURL != "http://127.0.0.1:8080" || c.RedisURL != "" || c.SMTPURL != "" ||
		c.DatabaseURL != "sqlite:"+filepath.Join("data", "utskick.db") || c.OptinTTL != 7*24*time.Hour || !c.AutoMigrate {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestInvalidSettingsNameTheVariable(t *testing.T) {
	tests := []struct{ name, value string }{
		{"UTSKICK_HTTP_ADDR", "8080"},
		{"UTSKICK_BASE_URL", "nyhetsbrev.example.se"},
		{"UTSKICK_DATABASE_URL", "mysql://x"},
		{"UTSKICK_REDIS_URL", "localhost:6379"},
		{"UTSKICK_SMTP_URL", "smtp://"},
		{"UTSKICK_SMTP_URL", "smtp://u:p@smtp.example.se:587?tls=none"},
		{"UTSKICK_SMTP_URL", "smtp://smtp.example.se:99999"},
		{"UTSKICK_SMTP_CAPTURE_ADDR", "0.0.0.0:25"},
		{"UTSKICK_FROM", "not an address"},
		{"UTSKICK_SECRET", "short"},
		{"UTSKICK_ADMIN_TOKEN", "short"},
		{"UTSKICK_SMTP_CONNECTIONS", "0"},
		{"UTSKICK_SEND_RATE", "-1"},
		{"UTSKICK_RETRY_BASE", "soon"},
		{"UTSKICK_OPTIN_TTL", "0d"},
		{"UTSKICK_TRUSTED_PROXIES", "10.0.0.0"},
		{"UTSKICK_DOMAIN_CONCURRENCY", "gmail.com"},
		{"UTSKICK_LOG_LEVEL", "loud"},
		{"UTSKICK_AUTO_MIGRATE", "maybe"},
		{"UTSKICK_INBOUND_IMAP_URL", "imaps://imap.example.se"},
		{"UTSKICK_INBOUND_IMAP_URL", "https://u:p@imap.example.se"},
		{"UTSKICK_GUARD_MAX_POLICY_RATE", "1.5"},
	}
	for _, tc := range tests {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			_, err := loadConfig(env(map[string]string{tc.name: tc.value}))
			if err == nil || !strings.Contains(err.Error(), tc.name+":") {
				t.Fatalf("err %v, want one naming %s", err, tc.name)
			}
		})
	}
}

func TestSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "secret")
	os.WriteFile(f, []byte("a file secret that is long enough, 32+\n"), 0o600)
	c, err := loadConfig(env(map[string]string{"UTSKICK_SECRET_FILE": f,
		"UTSKICK_SMTP_URL": "smtps://user:pa%40ss@smtp.example.se"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Secret != "a file secret that is long enough, 32+" || c.SMTP.Port != 465 || c.SMTP.Password != "pa@ss" || c.SMTP.TLS != "tls" {
		t.Fatalf("%+v", c)
	}
	imap := filepath.Join(dir, "imap")
	os.WriteFile(imap, []byte("imaps://studs%40kommun.example:hemligt@imap.kommun.example/INBOX\n"), 0o600)
	c, err = loadConfig(env(map[string]string{"UTSKICK_INBOUND_IMAP_URL_FILE": imap, "UTSKICK_INBOUND_IMAP_PROCESSED": "delete"}))
	if err != nil || c.InboundIMAP != "imaps://studs%40kommun.example:hemligt@imap.kommun.example/INBOX" || c.InboundIMAPDone != "delete" ||
		c.InboundPOP3Every != time.Minute || c.GuardPolicy != 0.05 {
		t.Fatalf("IMAP from a file: %+v %v", c, err)
	}
	if _, err := loadConfig(env(map[string]string{"UTSKICK_SECRET_FILE": f, "UTSKICK_SECRET": strings.Repeat("x", 40)})); err == nil {
		t.Fatal("both UTSKICK_SECRET and UTSKICK_SECRET_FILE accepted")
	}
	if _, err := loadConfig(env(map[string]string{"UTSKICK_SECRET_FILE": filepath.Join(dir, "nope")})); err == nil ||
		!strings.Contains(err.Error(), "UTSKICK_SECRET_FILE") {
		t.Fatalf("missing file: %v", err)
	}
}

// TestManualDocumentsEverySetting keeps the settings table of docs/configuration.md true.
func TestManualDocumentsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, s := range settings {
		if !strings.Contains(readme, "| `"+s.name+"`") {
			t.Errorf("docs/configuration.md lacks %s", s.name)
		}
	}
}

func TestSessionSettings(t *testing.T) {
	c, err := loadConfig(env(map[string]string{}))
	if err != nil || c.SessionIdle != 8*time.Hour || c.SessionMax != 7*24*time.Hour || c.RateSignin.N != 10 || c.RateSigninIP.N != 50 {
		t.Fatalf("defaults: %v %+v", err, c)
	}
	_, err = loadConfig(env(map[string]string{"UTSKICK_SESSION_IDLE": "2d", "UTSKICK_SESSION_MAX": "1d"}))
	if err == nil || !strings.Contains(err.Error(), "UTSKICK_SESSION_IDLE") {
		t.Fatalf("idle longer than max: %v", err)
	}
}

// TestMediaBucketSettings: the bucket's keys may come from files; a
// bucket without keys, keys without a bucket, an endpoint with a scheme
// and keys over plain HTTP to a remote server are refused by name.
func TestMediaBucketSettings(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "s3-secret")
	os.WriteFile(key, []byte("hemlig-nyckel\n"), 0o600)
	c, err := loadConfig(env(map[string]string{"UTSKICK_MEDIA_S3_BUCKET": "bilder", "UTSKICK_MEDIA_S3_ENDPOINT": "127.0.0.1:9000",
		"UTSKICK_MEDIA_S3_ACCESS_KEY": "utskick", "UTSKICK_MEDIA_S3_SECRET_KEY_FILE": key, "UTSKICK_MEDIA_S3_PATH_STYLE": "true",
		"UTSKICK_MEDIA_S3_TLS": "false", "UTSKICK_MEDIA_S3_PREFIX": "utskick/media/", "UTSKICK_MEDIA_S3_REGION": "eu-north-1"}))
	if err != nil {
		t.Fatal(err)
	}
	if m := c.MediaS3; m.Bucket != "bilder" || m.SecretKey != "hemlig-nyckel" || m.AccessKey != "utskick" || !m.PathStyle || m.TLS ||
		m.Prefix != "utskick/media/" || m.Region != "eu-north-1" || m.Endpoint != "127.0.0.1:9000" {
		t.Fatalf("%+v", m)
	}
	if c, err := loadConfig(env(map[string]string{})); err != nil || c.MediaS3.Bucket != "" || !c.MediaS3.TLS || c.MediaS3.Endpoint != "s3.amazonaws.com" {
		t.Fatalf("defaults: %+v %v", c.MediaS3, err)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"UTSKICK_MEDIA_S3_BUCKET": "bilder"}, "UTSKICK_MEDIA_S3_ACCESS_KEY"},
		{map[string]string{"UTSKICK_MEDIA_S3_ACCESS_KEY": "k", "UTSKICK_MEDIA_S3_SECRET_KEY": "s"}, "UTSKICK_MEDIA_S3_BUCKET is not"},
		{map[string]string{"UTSKICK_MEDIA_S3_ENDPOINT": "https://s3.example.se"}, "UTSKICK_MEDIA_S3_ENDPOINT:"},
		{map[string]string{"UTSKICK_MEDIA_S3_BUCKET": "b", "UTSKICK_MEDIA_S3_ACCESS_KEY": "k", "UTSKICK_MEDIA_S3_SECRET_KEY": "s",
			"UTSKICK_MEDIA_S3_ENDPOINT": "s3.example.se", "UTSKICK_MEDIA_S3_TLS": "false"}, "UTSKICK_MEDIA_S3_TLS=false"},
	} {
		if _, err := loadConfig(env(tc.env)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want one with %q", tc.env, err, tc.want)
		}
	}
}
