-- cyc_b: requires cyc_a, closing the cycle.
return { a = require("cyc_a") }
