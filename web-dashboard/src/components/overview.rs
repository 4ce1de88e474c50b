//! The overview at the top: live peers by kind, messages per second in and out of this node with a
//! sparkline of the last minutes, questions asked, answered and in flight, and the trouble counters (drops,
//! refusals, lags, bad input), each tile amber or red (and marked with a word and a symbol) while it moves.
//! Counts come from the peer table; rates and counters from the stats the bridge pushes every second.

use leptos::prelude::*;

use crate::connection::now_ms;
use crate::num;
use crate::state::traffic::Level;
use crate::state::vec_map::VecMap;
use crate::state::Parts;
use crate::DashContext;

/// The sparkline's box.
const SPARK_WIDTH: f64 = 240.0;
/// The sparkline's box.
const SPARK_HEIGHT: f64 = 40.0;

/// A rate as the overview shows it: whole numbers from 10 up, one decimal below.
fn per_second(rate: f64) -> String {
    if rate >= 10.0 {
        num::whole(rate)
    } else {
        num::dec1(rate)
    }
}

/// The overview cards.
#[component]
pub fn OverviewView() -> impl IntoView {
    let dash = expect_context::<DashContext>().dash;
    // Peers by kind, and by site once any is at another site.
    let live = Memo::new(move |_| {
        dash.with(Parts::PEERS, |dash| {
            dash.peers.live_count_by(|p| p.kind.to_string())
        })
    });
    let sites = Memo::new(move |_| {
        dash.with(Parts::PEERS, |dash| {
            dash.peers.live_count_by(|p| {
                p.site
                    .as_ref()
                    .map_or_else(|| "this site".to_owned(), |site| format!("site {site}"))
            })
        })
    });
    let live_total = move || live.with(|groups| groups.values().sum::<usize>());
    let counted = |groups: VecMap<String, usize>, testid: &'static str| {
        groups
            .into_iter()
            .map(|(group, count)| {
                view! { <li data-testid=testid><span class="figure-small">{count}</span> " " {group}</li> }
            })
            .collect::<Vec<_>>()
    };
    let kinds = move || counted(live.get(), "overview-kind");
    let by_site = move || {
        let groups = sites.get();
        // One group means everything is on this LAN: nothing to show.
        if groups.len() < 2 {
            Vec::new()
        } else {
            counted(groups, "overview-site")
        }
    };
    let rate = Memo::new(move |_| dash.with(Parts::STATS, |dash| dash.traffic.rate()));
    let rate_in = move || {
        rate.get()
            .map_or("–".to_owned(), |r| per_second(r.in_per_s))
    };
    let rate_out = move || {
        rate.get()
            .map_or("–".to_owned(), |r| per_second(r.out_per_s))
    };
    let spark = move || {
        dash.with(Parts::STATS, |dash| {
            dash.traffic.sparkline(SPARK_WIDTH, SPARK_HEIGHT)
        })
    };
    let questions = Memo::new(move |_| dash.with(Parts::STATS, |dash| dash.traffic.questions()));
    let page_waiting = move || dash.with(Parts::ASKS, |dash| dash.asks.waiting());
    let trouble = move || {
        dash.with(Parts::STATS, |dash| dash.traffic.trouble(now_ms()))
            .into_iter()
            .map(|tile| {
                let mark = match tile.level {
                    Level::Calm => "",
                    Level::Amber => "▲ recent",
                    Level::Red => "▲▲ rising",
                };
                let title = if tile.detail.is_empty() {
                    "nothing counted".to_owned()
                } else {
                    tile.detail.clone()
                };
                view! {
                    <li class=format!("trouble {}", tile.level.key()) data-testid="trouble" data-level=tile.level.key() title=title>
                        <span class="figure">{tile.total}</span>
                        <span class="label">{tile.group.label()}</span>
                        <span class="level">{mark}</span>
                    </li>
                }
            })
            .collect::<Vec<_>>()
    };
    view! {
        <section class="overview" aria-labelledby="overview-title">
            <h2 id="overview-title" class="visually-hidden">"Overview"</h2>
            <div class="card tile">
                <h3>"Live peers"</h3>
                <p class="figure" data-testid="overview-live">{live_total}</p>
                <ul class="kinds">{kinds}</ul>
                <ul class="kinds">{by_site}</ul>
            </div>
            <div class="card tile">
                <h3>"Messages / s"</h3>
                <p><span class="figure" data-testid="rate-in">{rate_in}</span> " in · "
                   <span class="figure" data-testid="rate-out">{rate_out}</span> " out"</p>
                <svg class="sparkline" role="img" aria-label="message rate, last five minutes" data-testid="sparkline"
                    viewBox=format!("0 0 {} {}", num::whole(SPARK_WIDTH), num::whole(SPARK_HEIGHT)) preserveAspectRatio="none">
                    <polyline points=spark/>
                </svg>
            </div>
            <div class="card tile">
                <h3>"Questions"</h3>
                <p><span class="figure" data-testid="questions-in-flight">{move || questions.get().in_flight}</span> " in flight · "
                   <span class="figure" data-testid="questions-answered">{move || questions.get().answered}</span> " answered"</p>
                <p class="hint">{move || format!("{} asked by this node; {} from this page waiting", questions.get().asked, page_waiting())}</p>
            </div>
            <div class="card tile">
                <h3>"Trouble"</h3>
                <ul class="troubles">{trouble}</ul>
            </div>
        </section>
    }
}
