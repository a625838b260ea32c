-- cyc_a: requires cyc_b, which requires cyc_a back.
return { b = require("cyc_b") }
