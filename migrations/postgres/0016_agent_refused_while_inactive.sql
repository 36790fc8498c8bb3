-- Webhooks that reached a switched-off agent and were refused (403,
-- nothing stored): counted for the operator, whose provider is still
-- sending to an agent they turned off (decision 0025).
ALTER TABLE agents ADD COLUMN refused_while_inactive BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN last_refused_while_inactive_at BIGINT;
