"""Alert ingestion: each source's wire format parsed into one notification model, and the lean
write path that makes a notification durable before the sender gets its 2xx."""
