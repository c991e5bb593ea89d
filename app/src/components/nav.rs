//! The top bar: brand, the sections the signed-in user can use, and the account menu.
//!
//! Sections that hold several pages are disclosure menus (`<details>`): they open with a click, Enter or Space
//! even before the page is interactive, and close on Escape, a click elsewhere or navigation. The group holding
//! the current page is marked (`aria-current` on its link, styled on the group). Below the phone breakpoint the
//! whole navigation folds behind one "Menu" button.

use crate::domain::access::Role;
use crate::model::User;
use crate::pages::app::AuthContext;
use leptos::ev;
use leptos::prelude::*;
use leptos::wasm_bindgen::JsCast;
use leptos::web_sys::{HtmlDetailsElement, HtmlElement, Node};
use leptos_router::components::A;
use leptos_router::hooks::use_location;

/// A link in the navigation: where it goes, its text, and who sees it.
struct Link {
    href: &'static str,
    label: &'static str,
    /// The lowest role that sees the link.
    role: Role,
}

const fn link(href: &'static str, label: &'static str, role: Role) -> Link {
    Link { href, label, role }
}

/// A menu of related pages.
struct Group {
    label: &'static str,
    links: &'static [Link],
}

/// Analysis tools. Viewers (stakeholders) read metric definitions and use the calculator; profiles are for
/// editors.
const ANALYSE: Group = Group {
    label: "Analyse",
    links: &[
        link("/metrics", "Metrics", Role::Viewer),
        link("/calculator", "Calculator", Role::Viewer),
        link("/profiles", "Profiles", Role::Editor),
    ],
};

const ADMIN: Group = Group {
    label: "Admin",
    links: &[
        link("/settings/users", "Users", Role::Admin),
        link("/settings/api-keys", "API keys", Role::Admin),
        link("/settings", "Settings", Role::Admin),
    ],
};

#[component]
pub fn TopBar(user: User) -> impl IntoView {
    let auth = AuthContext::expect();
    let role = user.role;
    let role_class = format!("badge role-{}", role.as_str());
    let header = NodeRef::<leptos::html::Header>::new();
    let (menu_open, set_menu_open) = signal(false);

    // Navigation closes whatever is open: the phone menu and any group.
    let location = use_location();
    Effect::new(move || {
        // Read, not just tracked: a memo nobody reads is not recomputed, so it would never say it changed.
        location.pathname.with(|_| ());
        set_menu_open.set(false);
        close_groups(header, None);
    });
    // Escape closes the open group and returns focus to its heading; a click outside a group closes it.
    Effect::new(move || {
        let escape = window_event_listener(ev::keydown, move |event| {
            if event.key() == "Escape" {
                let focused = document().active_element().map(Node::from);
                if let Some(group) = close_groups(header, None).into_iter().find(|g| g.contains(focused.as_ref())) {
                    if let Some(summary) = group.query_selector("summary").ok().flatten() {
                        let _ = summary.unchecked_into::<HtmlElement>().focus();
                    }
                }
                set_menu_open.set(false);
            }
        });
        let outside = window_event_listener(ev::click, move |event| {
            let clicked = event.target().and_then(|target| target.dyn_into::<Node>().ok());
            close_groups(header, clicked);
        });
        on_cleanup(move || {
            escape.remove();
            outside.remove();
        });
    });

    view! {
        <header class="topbar" class:menu-open=menu_open node_ref=header>
            <a class="brand" href="/">"intentlab"</a>
            <button
                type="button"
                class="menu-button"
                aria-controls="main-navigation"
                aria-expanded=move || menu_open.get().to_string()
                on:click=move |_| set_menu_open.update(|open| *open = !*open)
            >
                "Menu"
            </button>
            <div class="nav-panel" id="main-navigation">
                <nav class="nav" aria-label="Main">
                    <A href="/" exact=true>"Overview"</A>
                    <A href="/experiments">"Experiments"</A>
                    {(role >= Role::Editor).then(|| view! { <A href="/signals">"Signals"</A> })}
                    <A href="/playbook">"Playbook"</A>
                    <NavGroup group=&ANALYSE role />
                    <NavGroup group=&ADMIN role />
                </nav>
                <div class="user-menu">
                    <span class="user-email">{user.email.clone()}</span>
                    <span class=role_class>{role.label()}</span>
                    <ActionForm action=auth.logout>
                        <button type="submit" class="link-button" data-testid="logout">"Log out"</button>
                    </ActionForm>
                </div>
            </div>
        </header>
    }
}

/// A group's menu with the links `role` may use; nothing when there are none.
#[component]
fn NavGroup(group: &'static Group, role: Role) -> impl IntoView {
    let links: Vec<&Link> = group.links.iter().filter(|l| role >= l.role).collect();
    (!links.is_empty()).then(|| {
        view! {
            <details class="nav-group">
                <summary>{group.label}</summary>
                <div class="nav-menu">
                    {links
                        .into_iter()
                        .map(|l| {
                            // "/settings" is also the start of its siblings' paths: it is current only itself.
                            let exact = group.links.iter().any(|other| other.href != l.href && other.href.starts_with(l.href));
                            view! { <A href=l.href exact=exact>{l.label}</A> }
                        })
                        .collect_view()}
                </div>
            </details>
        }
    })
}

/// Closes every open group in the top bar, except the one holding `keep` (the node that was clicked), and returns
/// the groups it closed.
fn close_groups(header: NodeRef<leptos::html::Header>, keep: Option<Node>) -> Vec<HtmlDetailsElement> {
    let Some(header) = header.get_untracked() else { return Vec::new() };
    let groups = header.get_elements_by_class_name("nav-group");
    (0..groups.length())
        .filter_map(|index| groups.item(index)?.dyn_into::<HtmlDetailsElement>().ok())
        .filter(|group| group.open() && !keep.as_ref().is_some_and(|node| group.contains(Some(node))))
        .inspect(|group| group.set_open(false))
        .collect()
}
