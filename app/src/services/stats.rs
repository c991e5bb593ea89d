//! The statistics calculators (sufficient statistics in, results out) for the API and the Calculator page.
//! They read no data, but like every endpoint they answer only authenticated callers with read access.

use crate::auth::Caller;
use crate::domain::access::Access;
use crate::domain::stats::calculator::{
    self, AdjustRequest, AdjustResponse, CompareRequest, CompareResponse, PowerRequest, PowerResponse,
};
use crate::error::AppError;

pub fn compare(caller: &Caller, request: &CompareRequest) -> Result<CompareResponse, AppError> {
    caller.require(Access::Results)?;
    calculator::compare_request(request).map_err(AppError::invalid)
}

pub fn power(caller: &Caller, request: &PowerRequest) -> Result<PowerResponse, AppError> {
    caller.require(Access::Results)?;
    calculator::power_request(request).map_err(AppError::invalid)
}

pub fn adjust(caller: &Caller, request: &AdjustRequest) -> Result<AdjustResponse, AppError> {
    caller.require(Access::Results)?;
    calculator::adjust_request(request).map_err(AppError::invalid)
}
