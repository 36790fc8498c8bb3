-- When a correctly signed webhook last proved the agent's setup: set by the
-- first one after the agent was created or given a new Vapi scheme, and
-- cleared by that change. Switching an agent back on makes it active at
-- once only if it is set; otherwise it waits, pending_validation, for the
-- next correctly signed webhook.
ALTER TABLE agents ADD COLUMN validated_at BIGINT;
UPDATE agents SET validated_at = last_webhook_received_at;
