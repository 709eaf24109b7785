//! Building every receiver's channels from configuration.

use std::collections::HashMap;

use super::config as conv;
use super::discord::DiscordChannel;
use super::email::EmailChannel;
use super::error::{ChannelKind, ConfigError};
use super::pagerduty::PagerDutyChannel;
use super::slack::SlackChannel;
use super::sms::SmsChannel;
use super::teams::TeamsChannel;
use super::webhook::WebhookChannel;
use super::{http, Channel};
use crate::routing::config::{ReceiverConfig, RoutingConfig};

/// Receiver name → its channels, in configuration order.
#[derive(Debug, Default)]
pub struct ChannelSet {
    receivers: HashMap<String, Vec<Box<dyn Channel>>>,
}

impl ChannelSet {
    /// The channels of every receiver of a validated routing configuration.
    pub fn from_routing(config: &RoutingConfig) -> Result<ChannelSet, ConfigError> {
        Self::build(&config.receivers)
    }

    /// Builds the channels of every receiver (sharing one HTTP connection pool) from
    /// routing's receiver configuration (global defaults already filled in). Fails on
    /// the first invalid configuration, or on an empty or duplicate receiver name.
    pub fn build(receivers: &[ReceiverConfig]) -> Result<ChannelSet, ConfigError> {
        let client = http::build_client().map_err(|e| ConfigError {
            receiver: String::new(),
            channel: ChannelKind::Webhook,
            index: 0,
            message: format!("cannot build HTTP client: {e}"),
        })?;
        let mut out: HashMap<String, Vec<Box<dyn Channel>>> = HashMap::new();
        for r in receivers {
            let err = |channel, index, message: String| ConfigError {
                receiver: r.name.clone(),
                channel,
                index,
                message,
            };
            if r.name.is_empty() {
                return Err(err(
                    ChannelKind::Webhook,
                    0,
                    "receiver without a name".into(),
                ));
            }
            if out.contains_key(&r.name) {
                return Err(err(
                    ChannelKind::Webhook,
                    0,
                    "duplicate receiver name".into(),
                ));
            }
            let mut chans: Vec<Box<dyn Channel>> = Vec::new();
            for (i, c) in r.webhook_configs.iter().enumerate() {
                let ch = http::client_for(c.http_config.as_ref(), &client)
                    .and_then(|cl| conv::webhook(c).and_then(|c| WebhookChannel::new(c, cl)))
                    .map_err(|m| err(ChannelKind::Webhook, i, m))?;
                chans.push(Box::new(ch));
            }
            for (i, c) in r.slack_configs.iter().enumerate() {
                let ch = http::client_for(c.http_config.as_ref(), &client)
                    .and_then(|cl| conv::slack(c).and_then(|c| SlackChannel::new(c, cl)))
                    .map_err(|m| err(ChannelKind::Slack, i, m))?;
                chans.push(Box::new(ch));
            }
            for (i, c) in r.pagerduty_configs.iter().enumerate() {
                let ch = http::client_for(c.http_config.as_ref(), &client)
                    .and_then(|cl| conv::pagerduty(c).and_then(|c| PagerDutyChannel::new(c, cl)))
                    .map_err(|m| err(ChannelKind::PagerDuty, i, m))?;
                chans.push(Box::new(ch));
            }
            for (i, c) in r.email_configs.iter().enumerate() {
                let ch = conv::email(c)
                    .and_then(EmailChannel::new)
                    .map_err(|m| err(ChannelKind::Email, i, m))?;
                chans.push(Box::new(ch));
            }
            for (i, c) in r.teams_configs.iter().enumerate() {
                let ch = http::client_for(c.http_config.as_ref(), &client)
                    .and_then(|cl| conv::teams(c).and_then(|c| TeamsChannel::new(c, cl)))
                    .map_err(|m| err(ChannelKind::Teams, i, m))?;
                chans.push(Box::new(ch));
            }
            for (i, c) in r.discord_configs.iter().enumerate() {
                let ch = http::client_for(c.http_config.as_ref(), &client)
                    .and_then(|cl| conv::discord(c).and_then(|c| DiscordChannel::new(c, cl)))
                    .map_err(|m| err(ChannelKind::Discord, i, m))?;
                chans.push(Box::new(ch));
            }
            for (i, c) in r.sms_configs.iter().enumerate() {
                let ch = http::client_for(c.http_config.as_ref(), &client)
                    .and_then(|cl| conv::sms(c).and_then(|c| SmsChannel::new(c, cl)))
                    .map_err(|m| err(ChannelKind::Sms, i, m))?;
                chans.push(Box::new(ch));
            }
            out.insert(r.name.clone(), chans);
        }
        Ok(ChannelSet { receivers: out })
    }

    /// The channels of `receiver` (`None` for an unknown receiver; an empty slice for a
    /// receiver with no channels, Alertmanager's "blackhole").
    pub fn get(&self, receiver: &str) -> Option<&[Box<dyn Channel>]> {
        self.receivers.get(receiver).map(Vec::as_slice)
    }

    pub fn receivers(&self) -> impl Iterator<Item = &str> {
        self.receivers.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.receivers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.receivers.is_empty()
    }

    /// Adds (or replaces) the channels of `receiver`.
    #[cfg(test)]
    pub(crate) fn insert(&mut self, receiver: &str, channels: Vec<Box<dyn Channel>>) {
        self.receivers.insert(receiver.to_string(), channels);
    }

    pub fn into_map(self) -> HashMap<String, Vec<Box<dyn Channel>>> {
        self.receivers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::test_support::{sample_notification, MockServer, Reply};

    fn receivers(yaml: &str) -> Vec<ReceiverConfig> {
        let text = format!("route: {{receiver: blackhole}}\nreceivers:\n{yaml}");
        crate::routing::config::AlertmanagerConfig::load(&text)
            .unwrap()
            .receivers
    }

    const YAML: &str = r##"
- name: team-api
  webhook_configs:
    - url: http://127.0.0.1:9/hook
      signing_secret: k
  slack_configs:
    - api_url: http://127.0.0.1:9/slack
  pagerduty_configs:
    - routing_key: R0
      url: http://127.0.0.1:9/v2/enqueue
  email_configs:
    - smarthost: 127.0.0.1:25
      from: strix@example.com
      to: a@example.com
      require_tls: false
  teams_configs:
    - webhook_url: http://127.0.0.1:9/teams
  discord_configs:
    - webhook_url: http://127.0.0.1:9/discord
  sms_configs:
    - api_url: http://127.0.0.1:9
      account_sid: AC1
      auth_token: t
      from: "+1"
      to: ["+2"]
- name: blackhole
"##;

    #[test]
    fn builds_every_channel_kind() {
        let receivers = receivers(YAML);
        let set = ChannelSet::build(&receivers).unwrap();
        assert_eq!(set.len(), 2);
        let kinds: Vec<ChannelKind> = set
            .get("team-api")
            .unwrap()
            .iter()
            .map(|c| c.kind())
            .collect();
        assert_eq!(
            kinds,
            vec![
                ChannelKind::Webhook,
                ChannelKind::Slack,
                ChannelKind::PagerDuty,
                ChannelKind::Email,
                ChannelKind::Teams,
                ChannelKind::Discord,
                ChannelKind::Sms
            ]
        );
        assert!(set.get("blackhole").unwrap().is_empty());
        assert!(set.get("nobody").is_none());
        // Secrets stay out of Debug output.
        let dbg = format!("{set:?}");
        assert!(!dbg.contains("R0\""), "{dbg}");
    }

    #[test]
    fn rejects_duplicates_and_bad_configs() {
        let r = ReceiverConfig {
            name: "a".into(),
            ..Default::default()
        };
        let e = ChannelSet::build(&[r.clone(), r.clone()]).unwrap_err();
        assert!(e.message.contains("duplicate"), "{e}");
        let mut bad = r;
        bad.webhook_configs
            .push(crate::routing::config::WebhookConfig {
                url: Some(crate::routing::config::Secret::new("gopher://x")),
                ..Default::default()
            });
        let e = ChannelSet::build(&[bad]).unwrap_err();
        assert_eq!(e.channel, ChannelKind::Webhook);
        assert_eq!(e.index, 0);
        assert!(e.to_string().contains("receiver \"a\""), "{e}");
        let unknown = crate::routing::config::AlertmanagerConfig::load(
            "route: {receiver: x}\nreceivers:\n- name: x\n  pushover_configs: [{}]\n",
        );
        assert!(unknown.is_err());
    }

    #[tokio::test]
    async fn channels_from_set_deliver() {
        let srv = MockServer::start(vec![Reply::status(200, "ok")]).await;
        let yaml = format!(
            "- name: team-api\n  webhook_configs:\n    - url: {}\n- name: blackhole\n",
            srv.url("/hook")
        );
        let receivers = receivers(&yaml);
        let set = ChannelSet::build(&receivers).unwrap();
        for ch in set.get("team-api").unwrap() {
            ch.send(&sample_notification()).await.unwrap();
        }
        assert_eq!(srv.requests().len(), 1);
    }
}
