//! The Stripe webhook endpoint's logic: verify, parse, map to a tier change, apply once.
//!
//! [`handle_webhook`] takes the raw body, the `Stripe-Signature` header, the endpoint secret
//! and `now`. The signature is verified over the raw bytes **before any JSON parsing**
//! ([`signature`]); then the event is mapped to a [`BillingChange`] and applied by the store
//! in one transaction with its event id, so a replayed or re-delivered event is acknowledged
//! and changes nothing. Events older than the last one that set a wallet's tier are recorded
//! but do not change it (Stripe does not promise order).
//!
//! Which wallet: the service creates each Checkout Session with `client_reference_id` set to
//! the wallet address (Stripe accepts any string of up to 200 characters there, and echoes it
//! in `checkout.session.completed`) and `metadata.tier` set to the plan bought. That event
//! links the wallet to the Stripe customer id; later events name only the customer, and the
//! store finds the wallet by it. Nothing else about the payer is read or kept: no name, no
//! e-mail, no address.
//!
//! | event | change |
//! |---|---|
//! | `checkout.session.completed` | link `client_reference_id` ↔ `customer`; tier from `metadata.tier` once `payment_status` is `paid` or `no_payment_required` |
//! | `invoice.paid` | tier of the customer's wallet from the paid lines' price ids ([`PriceTiers`]) |
//! | `customer.subscription.updated` | `active`/`trialing`: tier from the items' price ids (else `metadata.tier`); `canceled`, `unpaid`, `incomplete_expired`, `paused`: Free; `past_due`, `incomplete`: unchanged (Stripe is still collecting) |
//! | `customer.subscription.deleted` | Free |
//! | anything else | acknowledged, recorded, no change |

pub mod signature;

use std::collections::HashMap;

use serde_json::Value;
use time::OffsetDateTime;

use crate::logsafe::{ShortAddress, WalletAddress};
use crate::store::{BillingChange, BillingOutcome, Store, StoreError};
use crate::tiers::Tier;
pub use signature::SignatureError;

/// Stripe price ids (`price_…`, from the dashboard) and the tier each one buys.
#[derive(Debug, Clone, Default)]
pub struct PriceTiers(pub HashMap<String, Tier>);

impl PriceTiers {
    /// The highest tier among `price_ids` that are known.
    fn best<'a>(&self, price_ids: impl Iterator<Item = &'a str>) -> Option<Tier> {
        price_ids.filter_map(|id| self.0.get(id).copied()).max()
    }
}

/// A delivery processed: reply 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookOutcome {
    pub event_id: String,
    pub event_type: String,
    pub outcome: BillingOutcome,
}

/// A delivery refused or failed. [`WebhookError::http_status`] gives the reply.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("signature: {0}")]
    Signature(#[from] SignatureError),
    #[error("event payload: {0}")]
    Payload(&'static str),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl WebhookError {
    /// 400 for a delivery that will never be accepted, 500 for our failure (Stripe retries).
    pub fn http_status(&self) -> u16 {
        match self {
            WebhookError::Signature(_) | WebhookError::Payload(_) => 400,
            WebhookError::Store(_) => 500,
        }
    }
}

/// Handles one webhook delivery (see the module documentation).
pub fn handle_webhook(
    store: &dyn Store,
    prices: &PriceTiers,
    raw_body: &[u8],
    signature_header: &str,
    endpoint_secret: &str,
    now: OffsetDateTime,
) -> Result<WebhookOutcome, WebhookError> {
    let now = now.unix_timestamp();
    if let Err(e) = signature::verify(raw_body, signature_header, endpoint_secret, now) {
        tracing::warn!(error = %e, "Stripe webhook refused");
        return Err(e.into());
    }
    let event: Value =
        serde_json::from_slice(raw_body).map_err(|_| WebhookError::Payload("not JSON"))?;
    let event_id = event["id"]
        .as_str()
        .filter(|id| id.starts_with("evt_") && id.len() <= 255)
        .ok_or(WebhookError::Payload("no event id"))?;
    let event_type = event["type"]
        .as_str()
        .ok_or(WebhookError::Payload("no event type"))?;
    let created = event["created"]
        .as_i64()
        .ok_or(WebhookError::Payload("no created time"))?;
    let object = &event["data"]["object"];
    if !object.is_object() {
        return Err(WebhookError::Payload("no data.object"));
    }
    let change = map_event(event_type, object, prices)?;
    let outcome = store.apply_billing_event(event_id, created, &change, now)?;
    match &outcome {
        BillingOutcome::Applied { wallet, tier } => {
            tracing::info!(event_type, wallet = %ShortAddress(wallet), %tier, "plan set");
        }
        BillingOutcome::Duplicate => tracing::info!(event_type, "Stripe event already processed"),
        other => tracing::info!(event_type, outcome = ?Outcome(other), "Stripe event recorded"),
    }
    Ok(WebhookOutcome {
        event_id: event_id.to_owned(),
        event_type: event_type.to_owned(),
        outcome,
    })
}

/// Logs an outcome with any wallet shortened.
struct Outcome<'a>(&'a BillingOutcome);

impl std::fmt::Debug for Outcome<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            BillingOutcome::Applied { wallet, tier } => {
                write!(f, "Applied({}, {tier})", ShortAddress(wallet))
            }
            BillingOutcome::Linked { wallet } => write!(f, "Linked({})", ShortAddress(wallet)),
            BillingOutcome::Stale { wallet } => write!(f, "Stale({})", ShortAddress(wallet)),
            BillingOutcome::Duplicate => f.write_str("Duplicate"),
            BillingOutcome::UnknownCustomer => f.write_str("UnknownCustomer"),
            BillingOutcome::Ignored => f.write_str("Ignored"),
        }
    }
}

/// A Stripe id field that may be a string or an expanded object with an `id`.
fn id_of(v: &Value) -> Option<&str> {
    v.as_str().or_else(|| v["id"].as_str())
}

fn customer_of(object: &Value) -> Result<String, WebhookError> {
    id_of(&object["customer"])
        .filter(|c| c.starts_with("cus_") && c.len() <= 255)
        .map(str::to_owned)
        .ok_or(WebhookError::Payload("no customer id"))
}

fn metadata_tier(object: &Value) -> Option<Tier> {
    object["metadata"]["tier"].as_str()?.parse().ok()
}

fn map_event(
    kind: &str,
    object: &Value,
    prices: &PriceTiers,
) -> Result<BillingChange, WebhookError> {
    Ok(match kind {
        "checkout.session.completed" => {
            let wallet = object["client_reference_id"]
                .as_str()
                .and_then(|w| WalletAddress::parse(w).ok());
            // Not a PhantomCall checkout (no wallet), or a payment without a customer.
            let (Some(wallet), Ok(customer)) = (wallet, customer_of(object)) else {
                return Ok(BillingChange::Nothing);
            };
            let paid = matches!(
                object["payment_status"].as_str(),
                Some("paid" | "no_payment_required")
            );
            BillingChange::Link {
                wallet: wallet.as_str().to_owned(),
                customer,
                tier: if paid { metadata_tier(object) } else { None },
            }
        }
        "invoice.paid" => {
            let lines = object["lines"]["data"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            // Before API version 2025-03-31 a line has `price`; since, `pricing.price_details.price`.
            let ids = lines.iter().filter_map(|l| {
                id_of(&l["price"]).or_else(|| id_of(&l["pricing"]["price_details"]["price"]))
            });
            match prices.best(ids) {
                Some(tier) => BillingChange::SetTier {
                    customer: customer_of(object)?,
                    tier,
                },
                None => BillingChange::Nothing,
            }
        }
        "customer.subscription.updated" => {
            let customer = customer_of(object)?;
            match object["status"].as_str() {
                Some("active" | "trialing") => {
                    let items = object["items"]["data"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    let ids = items.iter().filter_map(|i| id_of(&i["price"]));
                    match prices.best(ids).or_else(|| metadata_tier(object)) {
                        Some(tier) => BillingChange::SetTier { customer, tier },
                        None => BillingChange::Nothing,
                    }
                }
                Some("canceled" | "unpaid" | "incomplete_expired" | "paused") => {
                    BillingChange::SetTier {
                        customer,
                        tier: Tier::Free,
                    }
                }
                _ => BillingChange::Nothing,
            }
        }
        "customer.subscription.deleted" => BillingChange::SetTier {
            customer: customer_of(object)?,
            tier: Tier::Free,
        },
        _ => BillingChange::Nothing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ADDR: &str = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin";

    fn prices() -> PriceTiers {
        PriceTiers(HashMap::from([
            ("price_pro".to_owned(), Tier::Pro),
            ("price_ent".to_owned(), Tier::Enterprise),
        ]))
    }

    #[test]
    fn checkout_links_and_sets_the_tier_only_when_paid() {
        let paid = json!({"client_reference_id": ADDR, "customer": "cus_1",
                          "payment_status": "paid", "metadata": {"tier": "pro"}});
        assert_eq!(
            map_event("checkout.session.completed", &paid, &prices()).unwrap(),
            BillingChange::Link {
                wallet: ADDR.into(),
                customer: "cus_1".into(),
                tier: Some(Tier::Pro)
            }
        );
        let unpaid = json!({"client_reference_id": ADDR, "customer": "cus_1",
                            "payment_status": "unpaid", "metadata": {"tier": "pro"}});
        assert_eq!(
            map_event("checkout.session.completed", &unpaid, &prices()).unwrap(),
            BillingChange::Link {
                wallet: ADDR.into(),
                customer: "cus_1".into(),
                tier: None
            }
        );
        for other in [
            json!({"client_reference_id": null, "customer": "cus_1"}),
            json!({"client_reference_id": "order-17", "customer": "cus_1"}),
            json!({"client_reference_id": ADDR, "customer": null}),
        ] {
            assert_eq!(
                map_event("checkout.session.completed", &other, &prices()).unwrap(),
                BillingChange::Nothing
            );
        }
    }

    #[test]
    fn invoice_lines_in_both_api_shapes() {
        let old = json!({"customer": "cus_1", "lines": {"data": [{"price": {"id": "price_pro"}}]}});
        let new = json!({"customer": "cus_1", "lines": {"data": [
            {"pricing": {"type": "price_details", "price_details": {"price": "price_ent"}}}]}});
        let unknown =
            json!({"customer": "cus_1", "lines": {"data": [{"price": {"id": "price_x"}}]}});
        let set = |tier| BillingChange::SetTier {
            customer: "cus_1".into(),
            tier,
        };
        assert_eq!(
            map_event("invoice.paid", &old, &prices()).unwrap(),
            set(Tier::Pro)
        );
        assert_eq!(
            map_event("invoice.paid", &new, &prices()).unwrap(),
            set(Tier::Enterprise)
        );
        assert_eq!(
            map_event("invoice.paid", &unknown, &prices()).unwrap(),
            BillingChange::Nothing
        );
    }

    #[test]
    fn subscription_status_decides() {
        let sub = |status: &str| {
            json!({"customer": {"id": "cus_1"}, "status": status,
                                        "items": {"data": [{"price": {"id": "price_ent"}}]}})
        };
        let set = |tier| BillingChange::SetTier {
            customer: "cus_1".into(),
            tier,
        };
        let kind = "customer.subscription.updated";
        assert_eq!(
            map_event(kind, &sub("active"), &prices()).unwrap(),
            set(Tier::Enterprise)
        );
        assert_eq!(
            map_event(kind, &sub("trialing"), &prices()).unwrap(),
            set(Tier::Enterprise)
        );
        assert_eq!(
            map_event(kind, &sub("canceled"), &prices()).unwrap(),
            set(Tier::Free)
        );
        assert_eq!(
            map_event(kind, &sub("past_due"), &prices()).unwrap(),
            BillingChange::Nothing
        );
        let deleted = map_event("customer.subscription.deleted", &sub("canceled"), &prices());
        assert_eq!(deleted.unwrap(), set(Tier::Free));
        assert!(map_event(kind, &json!({"status": "active"}), &prices()).is_err());
        assert_eq!(
            map_event("charge.refunded", &json!({}), &prices()).unwrap(),
            BillingChange::Nothing
        );
    }

    #[test]
    fn outcome_logging_shortens_wallets() {
        let o = BillingOutcome::Applied {
            wallet: ADDR.into(),
            tier: Tier::Pro,
        };
        assert_eq!(format!("{:?}", Outcome(&o)), "Applied(9xQe…VFin, pro)");
    }
}
