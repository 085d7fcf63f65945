//! The ACME client (instant-acme): one account per directory, created on
//! first use and kept sealed in the settings; an order per host name,
//! validated over HTTP-01, whose token the router answers from
//! `Tls::challenges`.

use std::path::PathBuf;
use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use sqlx::PgPool;
use tokio::sync::OnceCell;

use crate::crypto::Secrets;
use crate::db;

/// Let's Encrypt's production directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

pub struct Acme {
    directory: String,
    email: Option<String>,
    /// A CA certificate (PEM) to trust the directory with, instead of the
    /// system's (a private or test ACME server).
    ca_file: Option<PathBuf>,
    db: PgPool,
    secrets: Secrets,
    account: OnceCell<Account>,
}

impl Acme {
    pub fn new(
        directory: String,
        email: Option<String>,
        ca_file: Option<PathBuf>,
        db: PgPool,
        secrets: Secrets,
    ) -> Self {
        Self { directory, email, ca_file, db, secrets, account: OnceCell::new() }
    }

    /// The account: restored from the settings, or registered now.
    async fn account(&self) -> Result<&Account, String> {
        self.account.get_or_try_init(|| self.register()).await
    }

    async fn register(&self) -> Result<Account, String> {
        let setting = format!("acme_account {}", self.directory);
        let context = format!("acme/{}", self.directory);
        let builder = || match &self.ca_file {
            Some(path) => Account::builder_with_root(path),
            None => Account::builder(),
        };
        let fail = |e: instant_acme::Error| format!("the ACME directory {} refused or failed: {e}", self.directory);
        if let Some(stored) = db::settings::get(&self.db, &setting).await.map_err(|e| e.to_string())? {
            let sealed = hex::decode(stored).map_err(|e| e.to_string())?;
            let json = self.secrets.open(&context, &sealed).map_err(|e| e.to_string())?;
            let credentials: AccountCredentials = serde_json::from_str(&json).map_err(|e| e.to_string())?;
            return builder().map_err(fail)?.from_credentials(credentials).await.map_err(fail);
        }
        let contact = self.email.as_ref().map(|email| format!("mailto:{email}"));
        let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
        let new = NewAccount { contact: &contacts, terms_of_service_agreed: true, only_return_existing: false };
        let (account, credentials) =
            builder().map_err(fail)?.create(&new, self.directory.clone(), None).await.map_err(fail)?;
        let json = serde_json::to_string(&credentials).map_err(|e| e.to_string())?;
        let sealed = self.secrets.seal(&context, &json).map_err(|e| e.to_string())?;
        db::settings::put(&self.db, &setting, &hex::encode(sealed)).await.map_err(|e| e.to_string())?;
        tracing::info!(directory = %self.directory, "registered an ACME account");
        Ok(account)
    }

    /// Order a certificate for `hostname` and answer its HTTP-01 challenge
    /// through `challenges`; returns the PEM chain and private key, or the
    /// ACME server's reason.
    pub async fn issue(&self, hostname: &str, challenges: &super::Challenges) -> Result<(String, String), String> {
        let account = self.account().await?;
        let identifiers = [Identifier::Dns(hostname.to_string())];
        let mut order = account.new_order(&NewOrder::new(&identifiers)).await.map_err(|e| e.to_string())?;
        let mut tokens = Vec::new();
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization.map_err(|e| e.to_string())?;
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => return Err(format!("the authorization for {hostname} is {other:?}")),
            }
            let mut challenge = authorization
                .challenge(ChallengeType::Http01)
                .ok_or_else(|| format!("the ACME server offers no HTTP-01 challenge for {hostname}"))?;
            let answer = challenge.key_authorization().as_str().to_string();
            let change = challenges.open(&challenge.token, answer);
            tokens.push(challenge.token.clone());
            challenges.wait_propagated(change).await;
            challenge.set_ready().await.map_err(|e| e.to_string())?;
        }
        let patience = RetryPolicy::new().initial_delay(Duration::from_millis(250)).timeout(Duration::from_secs(90));
        let ready = order.poll_ready(&patience).await;
        let outcome = match ready {
            Ok(OrderStatus::Ready) => match order.finalize().await {
                Ok(key) => order.poll_certificate(&patience).await.map(|chain| (chain, key)).map_err(|e| e.to_string()),
                Err(err) => Err(err.to_string()),
            },
            Ok(status) => Err(why_invalid(&mut order).await.unwrap_or_else(|| format!("the order is {status:?}"))),
            Err(err) => Err(why_invalid(&mut order).await.unwrap_or_else(|| err.to_string())),
        };
        challenges.close(&tokens);
        outcome
    }
}

/// The first challenge error of an order's authorizations: what the ACME
/// server found (a refused connection, a wrong answer, a name in no DNS).
async fn why_invalid(order: &mut instant_acme::Order) -> Option<String> {
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authorization)) = authorizations.next().await {
        let Ok(state) = authorization.refresh().await else { continue };
        if let Some(problem) = state.challenges.iter().find_map(|c| c.error.as_ref()) {
            return Some(problem.to_string());
        }
    }
    None
}
