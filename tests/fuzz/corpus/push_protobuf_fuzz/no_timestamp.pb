

{a="b"}line