//! Sign in, or create an account. Both buttons are always there: a returning person
//! fills two fields, a new one three.

use super::input_value;
use crate::api;
use crate::hooks::data::{AppAction, AppContext};
use sync_protocol::auth::{LoginRequest, SignupRequest, MIN_PASSWORD_LEN};
use yew::prelude::*;

#[derive(Properties, PartialEq, Default)]
pub struct AuthFormProps {
    /// Prefills the email (signing in again after the session expired).
    #[prop_or_default]
    pub email: Option<String>,
    /// A heading for the form.
    #[prop_or_default]
    pub title: Option<AttrValue>,
}

#[derive(Clone, Copy, PartialEq)]
enum Intent {
    SignIn,
    SignUp,
}

#[component]
pub fn AuthForm(props: &AuthFormProps) -> Html {
    let context = use_context::<AppContext>().expect("AppContext is provided");
    let email = use_state(|| props.email.clone().unwrap_or_default());
    let password = use_state(String::new);
    let name = use_state(String::new);
    let error = use_state(|| None::<String>);
    let busy = use_state(|| false);

    let submit = {
        let (email, password, name, error, busy, context) = (
            email.clone(),
            password.clone(),
            name.clone(),
            error.clone(),
            busy.clone(),
            context.clone(),
        );
        move |intent: Intent| {
            if *busy {
                return;
            }
            let email_value = email.trim().to_string();
            let password_value = (*password).clone();
            let name_value = name.trim().to_string();
            if let Some(problem) = check(intent, &email_value, &password_value, &name_value) {
                error.set(Some(problem));
                return;
            }
            let (error, busy, context) = (error.clone(), busy.clone(), context.clone());
            busy.set(true);
            error.set(None);
            wasm_bindgen_futures::spawn_local(async move {
                let result = match intent {
                    Intent::SignIn => {
                        let request = LoginRequest {
                            email: email_value,
                            password: password_value,
                        };
                        api::login(&context.config, &request).await
                    }
                    Intent::SignUp => {
                        let request = SignupRequest {
                            email: email_value,
                            password: password_value,
                            name: name_value,
                        };
                        api::signup(&context.config, &request).await
                    }
                };
                busy.set(false);
                match result {
                    Ok(session) => context.actions.emit(AppAction::SignedIn(session)),
                    Err(message) => error.set(Some(message)),
                }
            });
        }
    };
    let on_submit = {
        let submit = submit.clone();
        move |event: SubmitEvent| {
            event.prevent_default();
            submit(Intent::SignIn);
        }
    };
    let on_sign_up = move |_: MouseEvent| submit(Intent::SignUp);
    let bind = |state: &UseStateHandle<String>| {
        let state = state.clone();
        move |event: InputEvent| state.set(input_value(&event))
    };

    html! {
        <section class="auth card" aria-labelledby="auth-title">
            <h2 id="auth-title">{ props.title.clone().unwrap_or_else(|| "Sign in or create an account".into()) }</h2>
            <p class="muted">{ "Your boards live on this device and sync to your other devices." }</p>
            <form onsubmit={on_submit} novalidate=true>
                <label for="auth-email">{ "Email" }</label>
                <input id="auth-email" data-testid="auth-email" type="email" autocomplete="username"
                    value={(*email).clone()} oninput={bind(&email)} required=true />
                <label for="auth-password">{ "Password" }</label>
                <input id="auth-password" data-testid="auth-password" type="password"
                    autocomplete="current-password" value={(*password).clone()}
                    oninput={bind(&password)} required=true />
                <label for="auth-name">{ "Name " }<span class="muted">{ "(new accounts only)" }</span></label>
                <input id="auth-name" data-testid="auth-name" type="text" autocomplete="name"
                    value={(*name).clone()} oninput={bind(&name)} />
                <p class="form-error" role="alert" data-testid="auth-error">
                    { (*error).clone().unwrap_or_default() }
                </p>
                <div class="actions">
                    <button type="submit" class="primary" data-testid="login-submit" disabled={*busy}>
                        { "Sign in" }
                    </button>
                    <button type="button" data-testid="signup-submit" onclick={on_sign_up} disabled={*busy}>
                        { "Create account" }
                    </button>
                </div>
            </form>
        </section>
    }
}

/// What is wrong with the form for `intent`, in words, before asking the server.
fn check(intent: Intent, email: &str, password: &str, name: &str) -> Option<String> {
    if !sync_protocol::validation::is_plausible_email(email) {
        return Some("Enter your email address.".into());
    }
    if password.is_empty() {
        return Some("Enter your password.".into());
    }
    if intent == Intent::SignUp {
        if password.chars().count() < MIN_PASSWORD_LEN {
            return Some(format!(
                "Choose a password of at least {MIN_PASSWORD_LEN} characters."
            ));
        }
        if name.is_empty() {
            return Some("Enter your name to create an account.".into());
        }
    }
    None
}
