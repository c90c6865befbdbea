package archivetest

import (
	"regexp"
	"strings"
	"testing"
)

// validBucket is S3's naming rule minus dots, which bucketName never produces.
var validBucket = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)

func TestBucketName(t *testing.T) {
	tests := []struct {
		name     string
		testName string
		wantBase string
	}{
		{"keeps a simple name, lower-cased", "TestPutGet", "igw-testputget-"},
		{"turns subtest slashes and spaces into single hyphens", "TestPut/round trip__2MB", "igw-testput-round-trip-2mb-"},
		{"drops leading and trailing punctuation", "__Test__", "igw-test-"},
		{"falls back when nothing is usable", "///", "igw-test-"},
		{"truncates long names to 63 characters", strings.Repeat("TestVeryLongName", 10), "igw-testverylongname"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bucketName(tt.testName)
			if !validBucket.MatchString(got) || strings.Contains(got, "--") {
				t.Errorf("bucketName(%q) = %q, not a valid S3 bucket name", tt.testName, got)
			}
			if len(got) > 63 {
				t.Errorf("bucketName(%q) has %d characters, want at most 63", tt.testName, len(got))
			}
			if !strings.HasPrefix(got, tt.wantBase) {
				t.Errorf("bucketName(%q) = %q, want prefix %q", tt.testName, got, tt.wantBase)
			}
		})
	}
}

func TestBucketNameIsUnique(t *testing.T) {
	a, b := bucketName("TestSame"), bucketName("TestSame")
	if a == b {
		t.Errorf("two calls both returned %q, want different names", a)
	}
}
