//! Sharing a board, as its owner and as a member does it through the page.

use super::Browser;

impl Browser {
    /// Opens the sharing panel of `board` (the owner's page).
    pub async fn open_sharing(&self, board: &str) {
        self.click(&format!("share-board-{board}")).await;
        self.find("share-email").await;
    }

    /// Closes the open sharing panel (one at a time keeps `share-email` unambiguous).
    pub async fn close_sharing(&self) {
        self.click("share-close").await;
        self.wait_gone("share-email").await;
    }

    /// Asks to share `board` with the account under `email` (the panel open or not);
    /// does not wait for the answer.
    pub async fn submit_share(&self, board: &str, email: &str) {
        self.open_sharing(board).await;
        self.replace_text("share-email", email).await;
        self.click("share-submit").await;
    }

    /// Shares `board` with the account under `email` and waits until its member list
    /// names them.
    pub async fn share_board(&self, board: &str, email: &str) {
        self.submit_share(board, email).await;
        self.wait_for_text(&format!("board-members-{board}"), |text| {
            text.contains(email)
        })
        .await;
    }

    /// Removes the member `email` from `board` (confirming) and waits until the member
    /// list no longer names them.
    pub async fn remove_member(&self, board: &str, email: &str) {
        self.open_sharing(board).await;
        self.click(&format!("remove-member-{email}")).await;
        self.click("confirm-delete").await;
        self.wait_for_text(&format!("board-members-{board}"), |text| {
            !text.contains(email)
        })
        .await;
    }

    /// Leaves a board shared with this account (a member's page).
    pub async fn leave_board(&self, board: &str) {
        self.click(&format!("leave-board-{board}")).await;
    }

    /// Toggles "Work offline" (the worker stops or resumes reaching the server).
    pub async fn toggle_offline(&self) {
        self.click("offline-toggle").await;
    }
}
