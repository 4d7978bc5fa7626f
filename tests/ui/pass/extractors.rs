use jobs_runtime::{job, JobContext, State};

struct Db;
struct Mailer;

#[job(every = "1m")]
async fn none() {}

#[job(every = "1m")]
async fn context_only(ctx: JobContext) {
    let _ = ctx.execution_number();
}

#[job(every = "1m")]
async fn state_only(db: State<Db>) {
    let _: &Db = &db;
}

#[job(every = "1m")]
async fn context_first(ctx: JobContext, db: State<Db>, mailer: State<Mailer>) {
    let _ = (ctx, db, mailer);
}

#[job(every = "1m")]
async fn context_last(db: State<Db>, mailer: State<Mailer>, ctx: JobContext) {
    let _ = (db, mailer, ctx);
}

#[job(every = "1m")]
async fn repeated(a: JobContext, db: State<Db>, b: JobContext, db_again: State<Db>) {
    let _ = (a, db, b, db_again);
}

#[job(every = "1m")]
async fn patterns(State(db): State<Db>, _: JobContext) {
    let _: std::sync::Arc<Db> = db;
}

fn main() {}
