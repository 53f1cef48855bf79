//! The dedicated Web Worker's entry point: registers the sync worker with gloo-worker,
//! speaking JSON with the app (see `sync_worker::codec`).

use gloo_worker::Registrable;
use sync_worker::codec::JsonCodec;
use sync_worker::host::SyncWorker;

fn main() {
    console_error_panic_hook::set_once();
    SyncWorker::registrar().encoding::<JsonCodec>().register();
}
