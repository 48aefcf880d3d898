//! The tables and columns the service reads and writes, listed once for the
//! schema checks of both backends (`rosetta-webhook check`, and `/readyz` on
//! SQLite). `migrations/` (PostgreSQL) and `sqlite/schema.sql` create them.

/// A table and every column of it that the service uses.
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
}

pub const TABLES: [Table; 5] = [
    Table {
        name: "classification_jobs",
        columns: &[
            "job_id",
            "client_id",
            "status",
            "callback_url",
            "total_products",
            "completed_products",
            "failed_products",
            "created_at",
            "updated_at",
            "completed_at",
            "metadata",
            "extra",
            "last_webhook_digest",
        ],
    },
    Table {
        name: "classification_results",
        columns: &[
            "id",
            "job_id",
            "product_id",
            "product_description",
            "hts_code",
            "hts_description",
            "confidence",
            "duty_rate",
            "source",
            "section_301_applies",
            "pga_flags",
            "extra",
            "created_at",
            "updated_at",
        ],
    },
    Table {
        name: "callback_deliveries",
        columns: &[
            "delivery_id",
            "job_id",
            "webhook_digest",
            "target_url",
            "state",
            "attempts",
            "next_attempt_at",
            "lease_owner",
            "lease_expires_at",
            "last_status",
            "last_error",
            "created_at",
            "updated_at",
            "delivered_at",
        ],
    },
    Table {
        name: "webhook_messages",
        columns: &["message_id", "job_id", "received_at"],
    },
    Table {
        name: "api_keys",
        columns: &["key_hash", "client_id", "label", "created_at", "revoked_at"],
    },
];
