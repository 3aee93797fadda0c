//! Money. Amounts are whole won; the checked types below make a negative amount, a charge out
//! of range or a balance over its ceiling impossible to construct.

use std::fmt;

/// The largest amount one charge may add (the contract: 1 to 10,000,000 per charge).
pub const MAX_CHARGE: i64 = 10_000_000;
/// The ceiling no balance may exceed (the contract: never above 1,000,000,000).
pub const MAX_BALANCE: i64 = 1_000_000_000;

/// Why an amount or a balance change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Money is never negative.
    #[error("an amount of money cannot be negative")]
    Negative,
    /// A charge must be between 1 and [`MAX_CHARGE`] won.
    #[error("a charge must be between 1 and {MAX_CHARGE} won")]
    ChargeOutOfRange,
    /// The credit would lift the balance above [`MAX_BALANCE`].
    #[error("the balance may not exceed {MAX_BALANCE} won")]
    BalanceLimitExceeded,
    /// The debit is larger than the balance.
    #[error("the balance is too low")]
    InsufficientBalance,
}

/// A non-negative amount of won.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Won(i64);

impl Won {
    /// Nothing.
    pub const ZERO: Won = Won(0);

    /// Accepts zero and positive amounts.
    pub fn new(amount: i64) -> Result<Self, MoneyError> {
        if amount >= 0 { Ok(Self(amount)) } else { Err(MoneyError::Negative) }
    }

    /// The raw number of won.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Won {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} won", self.0)
    }
}

/// The amount of one charge: 1..=[`MAX_CHARGE`] won.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChargeAmount(Won);

impl ChargeAmount {
    /// Accepts 1 to [`MAX_CHARGE`] won.
    pub fn new(amount: i64) -> Result<Self, MoneyError> {
        if (1..=MAX_CHARGE).contains(&amount) {
            Ok(Self(Won(amount)))
        } else {
            Err(MoneyError::ChargeOutOfRange)
        }
    }

    /// The amount as plain money.
    pub fn won(self) -> Won {
        self.0
    }
}

/// What a user holds: 0..=[`MAX_BALANCE`] won.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Balance(Won);

impl Balance {
    /// A new user's balance.
    pub const ZERO: Balance = Balance(Won::ZERO);

    /// Accepts 0 to [`MAX_BALANCE`] won.
    pub fn new(amount: i64) -> Result<Self, MoneyError> {
        let won = Won::new(amount)?;
        if amount <= MAX_BALANCE { Ok(Self(won)) } else { Err(MoneyError::BalanceLimitExceeded) }
    }

    /// The balance as plain money.
    pub fn won(self) -> Won {
        self.0
    }

    /// The balance after a charge; refused when it would pass the ceiling.
    pub fn credit(self, amount: ChargeAmount) -> Result<Balance, MoneyError> {
        Balance::new(self.0.0 + amount.won().0)
    }

    /// The balance after money comes back (a refund); refused when it would pass the ceiling.
    pub fn refund(self, amount: Won) -> Result<Balance, MoneyError> {
        let total = self.0.0.checked_add(amount.0).ok_or(MoneyError::BalanceLimitExceeded)?;
        Balance::new(total)
    }

    /// The balance after a payment; refused when the money is not there.
    pub fn debit(self, amount: Won) -> Result<Balance, MoneyError> {
        if amount.0 <= self.0.0 {
            Ok(Balance(Won(self.0.0 - amount.0)))
        } else {
            Err(MoneyError::InsufficientBalance)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refund_adds_back_up_to_the_ceiling() {
        let balance = Balance::new(MAX_BALANCE - 10).expect("valid");
        assert_eq!(balance.refund(Won(10)), Ok(Balance(Won(MAX_BALANCE))));
        assert_eq!(balance.refund(Won(11)), Err(MoneyError::BalanceLimitExceeded));
        assert_eq!(balance.refund(Won(i64::MAX)), Err(MoneyError::BalanceLimitExceeded));
    }

    #[test]
    fn won_rejects_negative_amounts() {
        assert_eq!(Won::new(-1), Err(MoneyError::Negative));
        assert_eq!(Won::new(0).map(Won::get), Ok(0));
    }

    #[test]
    fn charge_accepts_one_to_ten_million() {
        assert!(ChargeAmount::new(1).is_ok());
        assert!(ChargeAmount::new(MAX_CHARGE).is_ok());
    }

    #[test]
    fn charge_rejects_zero_negative_and_above_the_limit() {
        for bad in [0, -5, MAX_CHARGE + 1, i64::MAX] {
            assert_eq!(ChargeAmount::new(bad), Err(MoneyError::ChargeOutOfRange), "{bad}");
        }
    }

    #[test]
    fn credit_adds_the_charge() {
        let balance = Balance::new(500).and_then(|b| b.credit(ChargeAmount::new(250)?));
        assert_eq!(balance.map(|b| b.won().get()), Ok(750));
    }

    #[test]
    fn credit_fails_with_limit_exceeded_when_balance_would_pass_the_ceiling() {
        let near_ceiling = Balance::new(MAX_BALANCE - 10).and_then(|b| b.credit(ChargeAmount::new(11)?));
        assert_eq!(near_ceiling, Err(MoneyError::BalanceLimitExceeded));
    }

    #[test]
    fn credit_may_reach_the_ceiling_exactly() {
        let full = Balance::new(MAX_BALANCE - 10).and_then(|b| b.credit(ChargeAmount::new(10)?));
        assert_eq!(full.map(|b| b.won().get()), Ok(MAX_BALANCE));
    }

    #[test]
    fn debit_fails_with_insufficient_balance_when_money_is_missing() {
        let balance = Balance::new(100).and_then(|b| b.debit(Won::new(101)?));
        assert_eq!(balance, Err(MoneyError::InsufficientBalance));
    }

    #[test]
    fn debit_may_empty_the_balance() {
        let balance = Balance::new(100).and_then(|b| b.debit(Won::new(100)?));
        assert_eq!(balance, Ok(Balance::ZERO));
    }

    #[test]
    fn balance_rejects_values_outside_zero_to_ceiling() {
        assert_eq!(Balance::new(-1), Err(MoneyError::Negative));
        assert_eq!(Balance::new(MAX_BALANCE + 1), Err(MoneyError::BalanceLimitExceeded));
    }
}
