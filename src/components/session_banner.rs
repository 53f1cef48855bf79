//! Shown when the server no longer accepts the session: sign in again, keep everything.

use super::AuthForm;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct SessionBannerProps {
    pub email: String,
}

#[component]
pub fn SessionBanner(props: &SessionBannerProps) -> Html {
    html! {
        <div class="session-banner" role="alert" data-testid="session-expired">
            <p>{ "Your session has expired. Sign in again to sync. Nothing you changed is lost." }</p>
            <AuthForm email={props.email.clone()} title="Sign in again" />
        </div>
    }
}
