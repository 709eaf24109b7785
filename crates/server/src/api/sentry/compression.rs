//! Per-project zstd dictionaries for stored event payloads.
//!
//! A project's events are alike: the same SDK sends the same keys, stack frames,
//! breadcrumbs and contexts again and again, and each event is too small for zstd to learn
//! that from the event alone. So the first `errors.compression.dictionary_samples` events
//! of a project are kept as samples (their stored text, after scrubbing); then a thread
//! trains a dictionary on them, the state store keeps it (`error_dictionaries`, with the
//! id zstd writes into every frame made with it) and the project's later events are
//! compressed with it. Events stored before keep their plain frames; both read back the
//! same. After a restart each project's latest dictionary is used again; a project
//! without one samples anew.
//!
//! Self-metrics: `strix_errors_dictionaries_total{result}` (`trained`, `failed`); the
//! settings are in `strix_errors_limit{limit="dictionary_samples"|"dictionary_bytes"}`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use strix_state::{ErrorDictionary, ErrorPayload, PayloadEncoder, StateStore};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TrainResult {
    result: &'static str,
}

/// Where a project stands.
enum State {
    /// Keeping samples until there are enough.
    Sampling(Vec<Vec<u8>>),
    /// A thread is training on the samples.
    Training,
    /// Training failed (too little to learn from, or the store refused): events go
    /// without a dictionary until the server restarts.
    Failed,
    /// The project has a dictionary (in `encoders`): no more samples.
    Trained,
}

/// The dictionaries in use and the projects still sampling.
pub(crate) struct Compression {
    options: strix_errors::Compression,
    store: Arc<dyn StateStore>,
    encoders: RwLock<HashMap<u64, Arc<PayloadEncoder>>>,
    pending: Mutex<HashMap<u64, State>>,
    trained: Family<TrainResult, Counter>,
}

impl Compression {
    /// Loads each project's latest dictionary from the store (a dictionary that cannot be
    /// loaded is skipped: that project samples anew).
    pub(crate) fn new(
        options: strix_errors::Compression,
        store: Arc<dyn StateStore>,
        registry: &mut Registry,
    ) -> Compression {
        let mut encoders = HashMap::new();
        let mut pending = HashMap::new();
        if options.dictionary {
            match store.latest_error_dictionaries() {
                Ok(dicts) => {
                    for d in dicts {
                        match PayloadEncoder::new(&d) {
                            Ok(e) => {
                                encoders.insert(d.project_id, Arc::new(e));
                                pending.insert(d.project_id, State::Trained);
                            }
                            Err(e) => tracing::warn!(
                                dictionary = d.id,
                                project = d.project_id,
                                error = %e,
                                "Stored error-payload dictionary cannot be loaded; the project will train a new one."
                            ),
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "Cannot read error-payload dictionaries."),
            }
        }
        let trained = Family::default();
        registry.sub_registry_with_prefix("strix_errors").register(
            "dictionaries",
            "Error-payload dictionaries trained, by result (trained, failed)",
            trained.clone(),
        );
        Compression {
            options,
            store,
            encoders: RwLock::new(encoders),
            pending: Mutex::new(pending),
            trained,
        }
    }

    /// The project's dictionary, if it has one.
    pub(crate) fn encoder(&self, project_id: u64) -> Option<Arc<PayloadEncoder>> {
        self.encoders
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&project_id)
            .cloned()
    }

    /// Whether the project's payloads are still wanted as samples.
    pub(crate) fn sampling(&self, project_id: u64) -> bool {
        self.options.dictionary
            && matches!(
                self.pending
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(&project_id),
                None | Some(State::Sampling(_))
            )
    }

    /// Keeps `texts` (stored payload texts of a project without a dictionary) as samples;
    /// with enough of them, starts training.
    pub(crate) fn sample(self: &Arc<Self>, project_id: u64, texts: Vec<Vec<u8>>) {
        let samples = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            let state = pending
                .entry(project_id)
                .or_insert_with(|| State::Sampling(Vec::new()));
            let State::Sampling(samples) = state else {
                return;
            };
            let room = self
                .options
                .dictionary_samples
                .saturating_sub(samples.len());
            samples.extend(texts.into_iter().take(room));
            if samples.len() < self.options.dictionary_samples {
                return;
            }
            match std::mem::replace(state, State::Training) {
                State::Sampling(s) => s,
                _ => return,
            }
        };
        let this = self.clone();
        let spawned = std::thread::Builder::new()
            .name("strix-error-dict".into())
            .spawn(move || this.train(project_id, &samples));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "Cannot start training an error-payload dictionary.");
            self.finish(project_id, Err(e.to_string()));
        }
    }

    /// Trains and stores the project's dictionary and starts using it.
    fn train(&self, project_id: u64, samples: &[Vec<u8>]) {
        let outcome = ErrorDictionary::train(samples, self.options.dictionary_bytes)
            .and_then(|bytes| {
                self.store
                    .save_error_dictionary(project_id, &bytes, strix_core::now_millis())
                    .map_err(|e| e.to_string())
            })
            .and_then(|d| PayloadEncoder::new(&d));
        self.finish(project_id, outcome);
    }

    fn finish(&self, project_id: u64, outcome: Result<PayloadEncoder, String>) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Ok(encoder) => {
                tracing::info!(
                    project = project_id,
                    dictionary = encoder.id(),
                    "Trained an error-payload dictionary."
                );
                self.encoders
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(project_id, Arc::new(encoder));
                pending.insert(project_id, State::Trained);
                self.trained
                    .get_or_create(&TrainResult { result: "trained" })
                    .inc();
            }
            Err(e) => {
                tracing::warn!(project = project_id, error = %e, "Cannot train an error-payload dictionary; events are compressed without one.");
                pending.insert(project_id, State::Failed);
                self.trained
                    .get_or_create(&TrainResult { result: "failed" })
                    .inc();
            }
        }
    }
}

/// Compresses a payload text with the project's dictionary, or without one.
pub(crate) fn encode(text: &[u8], encoder: Option<&PayloadEncoder>) -> ErrorPayload {
    match encoder {
        Some(e) => e.encode(text),
        None => ErrorPayload::encode_bytes(text),
    }
}
