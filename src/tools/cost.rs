//! What a dry run says a run would cost: the PUT-class requests of a copy, and the closing line
//! with the bytes to copy and the request cost at the prices assumed.

/// US East (N. Virginia), S3 Standard, December 2026: PUT, COPY, POST and LIST requests per
/// 1,000 (README states the prices assumed).
pub const PUT_CLASS_PER_1000: f64 = 0.005;
/// GET and all other requests per 1,000.
pub const GET_CLASS_PER_1000: f64 = 0.0004;

/// The PUT-class requests a server-side copy of `size` bytes makes: one CopyObject, or an
/// upload in parts (create, the parts, complete).
pub fn copy_requests(size: u64, settings: &crate::copy::CopySettings) -> u64 {
    match size > settings.threshold {
        true => 2 + size.div_ceil(settings.part_size.max(1)),
        false => 1,
    }
}

/// A dry run's second line: the bytes to copy and the estimated request cost.
pub fn cost_line(verb: &str, bytes: u64, put_class: u64, get_class: u64) -> String {
    let cost = put_class as f64 * PUT_CLASS_PER_1000 / 1000.0
        + get_class as f64 * GET_CLASS_PER_1000 / 1000.0;
    format!(
        "{verb} (dry run): {} to copy; about {put_class} PUT/COPY/LIST and {get_class} GET/HEAD requests, ${cost:.4} at ${PUT_CLASS_PER_1000} and ${GET_CLASS_PER_1000} per 1,000",
        indicatif::HumanBytes(bytes)
    )
}
