//! E-mail over SMTP (lettre): STARTTLS, implicit TLS or plain; optional AUTH; a
//! `multipart/alternative` message with a text and an HTML part.
//!
//! The `Message-ID` is derived from the notification's idempotency key, so a retried
//! notification carries the same id (clients and relays can drop duplicates).

mod config;
mod payload;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

pub use config::{EmailConfig, SmtpTls};
pub use payload::{html as render_html, subject as render_subject, text as render_text};

use super::error::{ChannelKind, DeliveryError, DeliveryReceipt};
use super::{Channel, Notification};

const KIND: ChannelKind = ChannelKind::Email;

pub struct EmailChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    config: EmailConfig,
}

impl std::fmt::Debug for EmailChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailChannel")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Splits `host:port` (`[v6]:port` too).
fn split_host_port(s: &str) -> Result<(String, u16), String> {
    let s = s.trim();
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("smarthost {s:?} must be host:port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("smarthost {s:?} has no host"));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("smarthost {s:?} has an invalid port"))?;
    Ok((host.to_string(), port))
}

impl EmailChannel {
    pub fn new(config: EmailConfig) -> Result<Self, String> {
        let (host, port) = split_host_port(&config.smarthost)?;
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| format!("invalid from address {:?}: {e}", config.from))?;
        if config.to.is_empty() {
            return Err("at least one recipient in to is required".into());
        }
        let to = config
            .to
            .iter()
            .map(|t| {
                t.parse::<Mailbox>()
                    .map_err(|e| format!("invalid to address {t:?}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;

        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(port)
            .timeout(Some(config.timeout));
        let tls_params = || {
            TlsParameters::builder(host.clone())
                .dangerous_accept_invalid_certs(config.insecure_skip_verify)
                .dangerous_accept_invalid_hostnames(config.insecure_skip_verify)
                .build()
                .map_err(|e| format!("TLS setup: {e}"))
        };
        b = b.tls(match config.tls {
            SmtpTls::Starttls => Tls::Required(tls_params()?),
            SmtpTls::Tls => Tls::Wrapper(tls_params()?),
            SmtpTls::None => Tls::None,
        });
        if let Some(user) = &config.auth_username {
            let pass = config
                .auth_password
                .as_ref()
                .map(|p| p.expose().to_string())
                .unwrap_or_default();
            b = b.credentials(Credentials::new(user.clone(), pass));
        }
        if let Some(hello) = &config.hello {
            b = b.hello_name(ClientId::Domain(hello.clone()));
        }
        Ok(EmailChannel {
            transport: b.build(),
            from,
            to,
            config,
        })
    }

    /// The message that would be sent for `n`.
    pub fn render(&self, n: &Notification) -> Result<Message, DeliveryError> {
        let mut m = Message::builder()
            .from(self.from.clone())
            .subject(render_subject(&self.config, n))
            .message_id(Some(format!(
                "<{}@strix>",
                n.idempotency_key()
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
                    .collect::<String>()
            )));
        for t in &self.to {
            m = m.to(t.clone());
        }
        let text = render_text(n);
        let built = if self.config.html {
            m.multipart(MultiPart::alternative_plain_html(text, render_html(n)))
        } else {
            m.singlepart(SinglePart::plain(text))
        };
        built.map_err(|e| DeliveryError::permanent(KIND, format!("cannot build message: {e}")))
    }
}

fn classify(e: &lettre::transport::smtp::Error) -> DeliveryError {
    let status = e.status().map(u16::from);
    let mut err = if e.is_permanent() || e.is_client() {
        DeliveryError::permanent(KIND, format!("SMTP: {e}"))
    } else if e.is_tls() || invalid_data_in_chain(e) {
        // Certificate or handshake problems do not fix themselves.
        DeliveryError::permanent(KIND, format!("SMTP TLS: {e}"))
    } else {
        // Transient (4xx) replies, timeouts, connection errors, unexpected closes.
        DeliveryError::retryable(KIND, format!("SMTP: {e}"))
    };
    err.status = status;
    err
}

/// rustls reports a rejected certificate or a failed handshake as an `InvalidData` I/O
/// error inside lettre's connection error.
fn invalid_data_in_chain(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut depth = 0;
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::InvalidData {
                return true;
            }
        }
        depth += 1;
        if depth > 8 {
            break;
        }
        cur = err.source();
    }
    false
}

#[async_trait]
impl Channel for EmailChannel {
    fn kind(&self) -> ChannelKind {
        KIND
    }

    async fn send(&self, n: &Notification) -> Result<DeliveryReceipt, DeliveryError> {
        let Some(n) = n.filter_resolved(self.config.send_resolved) else {
            return Ok(DeliveryReceipt::skipped(KIND));
        };
        let msg = self.render(&n)?;
        // lettre's timeout applies per SMTP step; bound the whole exchange too.
        let total = self.config.timeout.saturating_mul(3);
        let resp = match tokio::time::timeout(total, self.transport.send(msg)).await {
            Ok(r) => r.map_err(|e| classify(&e))?,
            Err(_) => {
                return Err(DeliveryError::retryable(
                    KIND,
                    format!("timed out after {}", strix_core::duration::format(total)),
                ))
            }
        };
        let mut receipt = DeliveryReceipt::sent(KIND, Some(u16::from(resp.code())));
        receipt
            .ids
            .push(resp.message().collect::<Vec<_>>().join(" "));
        Ok(receipt)
    }
}
