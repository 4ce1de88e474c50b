//! The reactive face of the [`Dashboard`]: the state lives once, outside the reactive graph, and each of its
//! [`Parts`] has its own trigger. A view reads with [`Dash::with`], naming the parts it shows, and repaints only
//! when one of them changes; an event from the bridge changes only the parts [`Dashboard::apply`] reports.
//! Events are applied as they arrive, and their triggers fire at most once per animation frame, so a busy
//! topic costs one repaint of the feed per frame, not one per message.

use leptos::prelude::*;

use crate::state::{Dashboard, Parts};
use herald_core::bridge::BridgeEvent;

/// A `Copy` handle on the page's state and its per-part triggers.
#[derive(Clone, Copy)]
pub struct Dash {
    state: StoredValue<Dashboard, LocalStorage>,
    triggers: [Trigger; Parts::COUNT],
    /// Parts changed by events whose repaint waits for the next animation frame, and whether one is asked for.
    pending: StoredValue<(Parts, bool), LocalStorage>,
}

impl Dash {
    /// An empty dashboard.
    pub fn new() -> Dash {
        Dash {
            state: StoredValue::new_local(Dashboard::default()),
            triggers: std::array::from_fn(|_| Trigger::new()),
            pending: StoredValue::new_local((Parts::NONE, false)),
        }
    }

    /// Subscribes the running view or memo to `parts`.
    pub fn track(&self, parts: Parts) {
        for (index, trigger) in self.triggers.iter().enumerate() {
            if parts.has_index(index) {
                trigger.track();
            }
        }
    }

    /// Reads the state, repainting the caller when any of `parts` changes.
    pub fn with<R>(&self, parts: Parts, read: impl FnOnce(&Dashboard) -> R) -> R {
        self.track(parts);
        self.state.with_value(read)
    }

    /// Reads the state without subscribing.
    pub fn with_untracked<R>(&self, read: impl FnOnce(&Dashboard) -> R) -> R {
        self.state.with_value(read)
    }

    /// Changes `parts` of the state and repaints their views now.
    pub fn change<R>(&self, parts: Parts, write: impl FnOnce(&mut Dashboard) -> R) -> R {
        let result = self
            .state
            .try_update_value(write)
            .expect("the dashboard lives as long as the page");
        self.notify(parts);
        result
    }

    /// Changes anything; every view repaints (for tests and rare whole-page changes).
    pub fn update<R>(&self, write: impl FnOnce(&mut Dashboard) -> R) -> R {
        self.change(Parts::ALL, write)
    }

    /// Repaints the views of `parts`.
    pub fn notify(&self, parts: Parts) {
        for (index, trigger) in self.triggers.iter().enumerate() {
            if parts.has_index(index) {
                trigger.notify();
            }
        }
    }

    /// Applies an event from the bridge (with its JSON text, read at the page's `now_ms`) at once; the views
    /// it changed repaint at the next animation frame.
    pub fn receive(&self, event: BridgeEvent, json: String, now_ms: u64) {
        let parts = self
            .state
            .try_update_value(|dash| {
                dash.now_ms = now_ms;
                dash.apply_json(event, json)
            })
            .unwrap_or(Parts::NONE);
        let schedule = self
            .pending
            .try_update_value(|(pending, scheduled)| {
                *pending |= parts;
                !std::mem::replace(scheduled, true)
            })
            .unwrap_or(false);
        if schedule {
            let dash = *self;
            request_animation_frame(move || {
                let parts = dash
                    .pending
                    .try_update_value(|(pending, scheduled)| {
                        *scheduled = false;
                        std::mem::take(pending)
                    })
                    .unwrap_or(Parts::NONE);
                dash.notify(parts);
            });
        }
    }
}

impl Default for Dash {
    fn default() -> Self {
        Dash::new()
    }
}
