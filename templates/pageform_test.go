package templates

import (
	"bytes"
	"strings"
	"testing"

	"github.com/invoicegw/invoicegw/gateway"
)

func TestPageFormStates(t *testing.T) {
	tpl := mustNew(t)
	tests := []struct {
		name     string
		form     gateway.PageForm
		want     []string
		dontWant []string
	}{
		{"offers both forms with the form token", gateway.PageForm{}, []string{
			`<form method="post" action="/i/tok/confirm"`, `<form method="post" action="/i/tok/query"`,
			`name="csrf" value="Y3NyZi10b2tlbg"`, `<label for="confirm-name">Your name</label>`, `>Confirm receipt</button>`,
		}, []string{`role="status"`, `role="alert"`, `aria-invalid="true"`}},
		{"thanks the person after confirming", gateway.PageForm{Done: "acknowledged"},
			[]string{`role="status">Thank you: your confirmation of receipt has been recorded`}, nil},
		{"thanks the person after a query", gateway.PageForm{Done: "query"},
			[]string{`role="status">Thank you: your query has been sent`}, nil},
		{"marks the confirm name as invalid and keeps the query form clean",
			gateway.PageForm{Name: "x", Errors: map[string]string{"form": "confirm", "name": "type your name"}},
			[]string{`id="confirm-name" name="name" type="text" autocomplete="name" maxlength="200" required value="x" aria-invalid="true" aria-describedby="confirm-name-error"`,
				`<p id="confirm-name-error" class="field-error">type your name</p>`},
			[]string{`query-name-error`}},
		{"keeps the typed query, escaped", gateway.PageForm{Name: "Jane", Message: "<script>alert(1)</script>",
			Errors: map[string]string{"form": "query", "message": "too long"}},
			[]string{`&lt;script&gt;alert(1)&lt;/script&gt;</textarea>`, `<p id="query-message-error" class="field-error">too long</p>`},
			[]string{`<script>alert`}},
		{"shows a refusal as an alert", gateway.PageForm{General: "this request looks automated"},
			[]string{`<p class="alert" role="alert">this request looks automated</p>`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := samplePage()
			tt.form.ConfirmURL, tt.form.QueryURL, tt.form.CSRF = d.Form.ConfirmURL, d.Form.QueryURL, d.Form.CSRF
			d.Form = tt.form
			var b bytes.Buffer
			if err := tpl.Page(&b, d); err != nil {
				t.Fatalf("Page() error = %v", err)
			}
			got := b.String()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tt.dontWant {
				if strings.Contains(got, w) {
					t.Errorf("page has %q", w)
				}
			}
		})
	}
}
