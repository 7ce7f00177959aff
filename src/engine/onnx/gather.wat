;; The row gather of tensor slices (slice.ts), as a WebAssembly kernel: the pruned model's weights
;; are mostly rows with many short kept ranges (a 1x1 convolution that keeps 70% of its input
;; channels keeps runs of about three floats), and a JavaScript loop over them copies a few bytes
;; per iteration at typed-array speed; this loop copies them with plain loads and stores.
;;
;; Assembled by scripts/gen-wasm.ts into gather.generated.ts (`npm run gen:wasm`); the test command
;; checks that the committed bytes are those of this file.

(module
  (memory (export "memory") 1)

  ;; For each of `rows` source rows (`rowBytes` apart, the first at byte `src`), copies the byte
  ;; ranges listed at `ranges` (`count` pairs of i32: offset in the row, length) one after the other
  ;; to `out`. Returns the byte after the last one written. Ranges of more than 64 bytes are block
  ;; copies; shorter ones are copied 4 bytes at a time and then byte by byte (no alignment needed:
  ;; loads and stores of any address are valid).
  (func (export "gather")
    (param $src i32) (param $rowBytes i32) (param $rows i32) (param $ranges i32) (param $count i32) (param $out i32)
    (result i32)
    (local $row i32) (local $p i32) (local $end i32) (local $len i32) (local $s i32) (local $e i32)
    (local.set $end (i32.add (local.get $ranges) (i32.shl (local.get $count) (i32.const 3))))
    (block $rowsDone
      (loop $nextRow
        (br_if $rowsDone (i32.ge_u (local.get $row) (local.get $rows)))
        (local.set $p (local.get $ranges))
        (block $rangesDone
          (loop $nextRange
            (br_if $rangesDone (i32.ge_u (local.get $p) (local.get $end)))
            (local.set $s (i32.add (local.get $src) (i32.load (local.get $p))))
            (local.set $len (i32.load offset=4 (local.get $p)))
            (if (i32.gt_u (local.get $len) (i32.const 64))
              (then
                (memory.copy (local.get $out) (local.get $s) (local.get $len))
                (local.set $out (i32.add (local.get $out) (local.get $len))))
              (else
                (local.set $e (i32.add (local.get $s) (i32.and (local.get $len) (i32.const -4))))
                (block $wordsDone
                  (loop $word
                    (br_if $wordsDone (i32.ge_u (local.get $s) (local.get $e)))
                    (i32.store align=1 (local.get $out) (i32.load align=1 (local.get $s)))
                    (local.set $out (i32.add (local.get $out) (i32.const 4)))
                    (local.set $s (i32.add (local.get $s) (i32.const 4)))
                    (br $word)))
                (local.set $e (i32.add (local.get $e) (i32.and (local.get $len) (i32.const 3))))
                (block $bytesDone
                  (loop $byte
                    (br_if $bytesDone (i32.ge_u (local.get $s) (local.get $e)))
                    (i32.store8 (local.get $out) (i32.load8_u (local.get $s)))
                    (local.set $out (i32.add (local.get $out) (i32.const 1)))
                    (local.set $s (i32.add (local.get $s) (i32.const 1)))
                    (br $byte)))))
            (local.set $p (i32.add (local.get $p) (i32.const 8)))
            (br $nextRange)))
        (local.set $src (i32.add (local.get $src) (local.get $rowBytes)))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (br $nextRow)))
    (local.get $out))
)
