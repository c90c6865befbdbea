-- +goose Up
-- Every delivery report received (DSNs and read receipts by SMTP, events from e-mail
-- providers), whether or not it matched a delivery: reports for unknown tokens and
-- unreadable ones stay here for an operator (`invoicegw reports list`).
CREATE TABLE inbound_reports (
    id          text PRIMARY KEY,
    source      text NOT NULL,          -- smtp, ses, postmark, mailgun, sendgrid
    dedup_key   text NOT NULL UNIQUE,   -- smtp:<sha256>:<token> or <provider>:<event id>
    outcome     text NOT NULL,          -- recorded, unknown_token, unclassified
    kind        text NOT NULL,          -- delivered, relayed, delayed, bounced, read_receipt, unknown
    token       text,
    message_id  text,
    tenant_id   text REFERENCES tenants (id),
    invoice_id  text REFERENCES invoices (id),
    delivery_id text REFERENCES deliveries (id),
    mail_from   text,
    rcpt_to     text,
    remote_addr text,
    raw_key     text,
    raw_sha256  text,
    raw_size    bigint,
    summary     jsonb NOT NULL DEFAULT '{}',
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbound_reports_unmatched ON inbound_reports (received_at DESC) WHERE outcome <> 'recorded';
CREATE INDEX inbound_reports_delivery ON inbound_reports (delivery_id);
-- Provider webhooks find deliveries by the Message-ID the gateway gave them.
CREATE INDEX deliveries_message_id ON deliveries (message_id);
