"""The engine's worker processes: where programs run, and where they are judged.

One worker of the engine (``rust/src/pool.rs`` starts one per core) is two process trees:

- the judge zygote (``judge``), trusted harness code: it reads jobs from the Rust host, holds the tests and the
  expected values, decides every verdict, and forks a judge child per job whose tests are statements
  (``asserts``); call tests and stdin/stdout tests it judges itself (``calls``);
- the runner zygote (``runner``), which the judge starts inside a sandbox and which never holds a job: per program
  run it forks a runner child, the only process that runs program code. A runner child answers the judge's
  requests (run the program, call this function with these inputs, read this attribute) with plain values
  (``wire``) or with the exception the program raised.

So verdicts hold by construction: the process that runs the program never holds an answer, the process that holds
the answers never runs program code, and what crosses between them is plain data the judge decodes itself. See
SECURITY.md for the whole model, each sandbox layer, and what remains.

Modules: ``wire`` (the encoding), ``runner`` (the runner zygote and child; stdlib only, loaded from source),
``supply`` (starting the runner zygote, taking runners), ``channel`` (one runner as the judge sees it),
``session`` (requests and answers), ``proxies`` (what a test sees of the program), ``asserts``, ``calls``,
``verdicts``, ``paths`` (what each process may read and write), ``native`` (the engine library's C entry points),
``judge`` (the judge zygote's main loop).
"""
