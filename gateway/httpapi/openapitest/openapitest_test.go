package openapitest

import "testing"

func TestEveryExampleValidatesAgainstItsSchema(t *testing.T) {
	d := Load(t)
	exs := d.Examples()
	if len(exs) < 3 {
		t.Fatalf("found %d examples, want the document's examples (at least 3)", len(exs))
	}
	for _, ex := range exs {
		t.Run(ex.Where, func(t *testing.T) {
			if err := d.Validate(ex.Schema, ex.Value); err != nil {
				t.Errorf("example %s does not match %s: %v", ex.Where, ex.Schema, err)
			}
		})
	}
}

func TestValidatorRejectsWhatTheSchemaForbids(t *testing.T) {
	d := Load(t)
	bad := map[string]any{"type": "x", "title": "y"} // no status
	if err := d.Validate("/components/schemas/Problem", bad); err == nil {
		t.Error("a problem without status validated; the validator checks nothing")
	}
	if err := d.ValidateResponse("GET", "/v1/invoices/inv_x", 404, "application/problem+json", []byte(`{"type":"https://invoicegw.dev/problems/not-found","title":"t","status":404}`)); err != nil {
		t.Errorf("documented 404 rejected: %v", err)
	}
	if err := d.ValidateResponse("GET", "/v1/invoices/inv_x", 418, "application/json", []byte(`{}`)); err == nil {
		t.Error("an undocumented status validated")
	}
}
