"""One router per resource of SPEC section 6."""
