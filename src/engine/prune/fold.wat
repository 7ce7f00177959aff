;; The compensation's fold over a block of filters (compensate.ts, foldInto on a model's first plan
;; for a consuming Conv), as a WebAssembly kernel: the same multiplications and additions, in the
;; same order, in double precision, as the plain loop in test/engine/fold-kernel.test.ts, so the
;; results are the same to the last bit. It runs compiled from the first block on: a JavaScript loop
;; runs its first blocks in the interpreter (every double a new heap object) while it is compiled,
;; and on a ResNet-50 it was compiled three times over.
;;
;; Assembled by scripts/gen-wasm.ts into fold.generated.ts (`npm run gen:wasm`); the test command
;; checks that the committed bytes are those of this file.
;;
;; Memory (byte addresses, set by the caller): w, `rows` filters of C·k float32 weights each;
;; mask, C bytes (1: a lost channel); means and v, C float64 each; kern, rows·k float64 (zeros on
;; entry; the lost channels' terms are added to it);
;; lostVar and allVar, rows float64 each (written).
;;
;; For each filter o and channel c, with q = Σ_j w[o,c,j]² (j in order) and t = v[c]·q:
;;   allVar[o] = Σ_c t,  lostVar[o] = Σ_{c lost} t,  kern[o,j] += w[o,c,j]·means[c] for each lost c.
;; Four filters at a time (independent chains of additions), then one at a time.

(module
  (memory (export "memory") 1)

  (func (export "foldAllVar")
    (param $w i32) (param $rows i32) (param $C i32) (param $k i32) (param $mask i32) (param $means i32)
    (param $v i32) (param $kern i32) (param $lostVar i32) (param $allVar i32)
    (local $r i32) (local $c i32) (local $j i32) (local $strideB i32) (local $kB i32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32)
    (local $k0 i32) (local $k1 i32) (local $k2 i32) (local $k3 i32)
    (local $lost i32) (local $mt f64) (local $vc f64)
    (local $x0 f64) (local $x1 f64) (local $x2 f64) (local $x3 f64)
    (local $q0 f64) (local $q1 f64) (local $q2 f64) (local $q3 f64)
    (local $t0 f64) (local $t1 f64) (local $t2 f64) (local $t3 f64)
    (local $a0 f64) (local $a1 f64) (local $a2 f64) (local $a3 f64)
    (local $l0 f64) (local $l1 f64) (local $l2 f64) (local $l3 f64)
    (local $s0 f64) (local $s1 f64) (local $s2 f64) (local $s3 f64)
    (local $out i32)
    (local.set $strideB (i32.shl (i32.mul (local.get $C) (local.get $k)) (i32.const 2)))
    (local.set $kB (i32.shl (local.get $k) (i32.const 3)))
    (if (i32.eq (local.get $k) (i32.const 1))
      (then
        ;; one tap a channel: w[o,c] at w + o·strideB + 4c; kern[o] is the lost channels' Σ w·mean
        (block $done
          (loop $quad
            (br_if $done (i32.gt_u (i32.add (local.get $r) (i32.const 4)) (local.get $rows)))
            (local.set $p0 (i32.add (local.get $w) (i32.mul (local.get $r) (local.get $strideB))))
            (local.set $p1 (i32.add (local.get $p0) (local.get $strideB)))
            (local.set $p2 (i32.add (local.get $p1) (local.get $strideB)))
            (local.set $p3 (i32.add (local.get $p2) (local.get $strideB)))
            (local.set $a0 (f64.const 0)) (local.set $a1 (f64.const 0)) (local.set $a2 (f64.const 0)) (local.set $a3 (f64.const 0))
            (local.set $l0 (f64.const 0)) (local.set $l1 (f64.const 0)) (local.set $l2 (f64.const 0)) (local.set $l3 (f64.const 0))
            (local.set $s0 (f64.const 0)) (local.set $s1 (f64.const 0)) (local.set $s2 (f64.const 0)) (local.set $s3 (f64.const 0))
            (local.set $c (i32.const 0))
            (block $cDone
              (loop $cLoop
                (br_if $cDone (i32.ge_u (local.get $c) (local.get $C)))
                (local.set $vc (f64.load (i32.add (local.get $v) (i32.shl (local.get $c) (i32.const 3)))))
                (local.set $x0 (f64.promote_f32 (f32.load (local.get $p0))))
                (local.set $x1 (f64.promote_f32 (f32.load (local.get $p1))))
                (local.set $x2 (f64.promote_f32 (f32.load (local.get $p2))))
                (local.set $x3 (f64.promote_f32 (f32.load (local.get $p3))))
                (local.set $t0 (f64.mul (local.get $vc) (f64.mul (local.get $x0) (local.get $x0))))
                (local.set $t1 (f64.mul (local.get $vc) (f64.mul (local.get $x1) (local.get $x1))))
                (local.set $t2 (f64.mul (local.get $vc) (f64.mul (local.get $x2) (local.get $x2))))
                (local.set $t3 (f64.mul (local.get $vc) (f64.mul (local.get $x3) (local.get $x3))))
                (local.set $a0 (f64.add (local.get $a0) (local.get $t0)))
                (local.set $a1 (f64.add (local.get $a1) (local.get $t1)))
                (local.set $a2 (f64.add (local.get $a2) (local.get $t2)))
                (local.set $a3 (f64.add (local.get $a3) (local.get $t3)))
                (if (i32.load8_u (i32.add (local.get $mask) (local.get $c)))
                  (then
                    (local.set $mt (f64.load (i32.add (local.get $means) (i32.shl (local.get $c) (i32.const 3)))))
                    (local.set $s0 (f64.add (local.get $s0) (f64.mul (local.get $x0) (local.get $mt))))
                    (local.set $s1 (f64.add (local.get $s1) (f64.mul (local.get $x1) (local.get $mt))))
                    (local.set $s2 (f64.add (local.get $s2) (f64.mul (local.get $x2) (local.get $mt))))
                    (local.set $s3 (f64.add (local.get $s3) (f64.mul (local.get $x3) (local.get $mt))))
                    (local.set $l0 (f64.add (local.get $l0) (local.get $t0)))
                    (local.set $l1 (f64.add (local.get $l1) (local.get $t1)))
                    (local.set $l2 (f64.add (local.get $l2) (local.get $t2)))
                    (local.set $l3 (f64.add (local.get $l3) (local.get $t3)))))
                (local.set $p0 (i32.add (local.get $p0) (i32.const 4)))
                (local.set $p1 (i32.add (local.get $p1) (i32.const 4)))
                (local.set $p2 (i32.add (local.get $p2) (i32.const 4)))
                (local.set $p3 (i32.add (local.get $p3) (i32.const 4)))
                (local.set $c (i32.add (local.get $c) (i32.const 1)))
                (br $cLoop)))
            (local.set $out (i32.shl (local.get $r) (i32.const 3)))
            (f64.store (i32.add (local.get $kern) (local.get $out)) (local.get $s0))
            (f64.store offset=8 (i32.add (local.get $kern) (local.get $out)) (local.get $s1))
            (f64.store offset=16 (i32.add (local.get $kern) (local.get $out)) (local.get $s2))
            (f64.store offset=24 (i32.add (local.get $kern) (local.get $out)) (local.get $s3))
            (f64.store (i32.add (local.get $lostVar) (local.get $out)) (local.get $l0))
            (f64.store offset=8 (i32.add (local.get $lostVar) (local.get $out)) (local.get $l1))
            (f64.store offset=16 (i32.add (local.get $lostVar) (local.get $out)) (local.get $l2))
            (f64.store offset=24 (i32.add (local.get $lostVar) (local.get $out)) (local.get $l3))
            (f64.store (i32.add (local.get $allVar) (local.get $out)) (local.get $a0))
            (f64.store offset=8 (i32.add (local.get $allVar) (local.get $out)) (local.get $a1))
            (f64.store offset=16 (i32.add (local.get $allVar) (local.get $out)) (local.get $a2))
            (f64.store offset=24 (i32.add (local.get $allVar) (local.get $out)) (local.get $a3))
            (local.set $r (i32.add (local.get $r) (i32.const 4)))
            (br $quad))))
      (else
        ;; k taps a channel: w[o,c,j] at w + o·strideB + 4(c·k + j); kern[o,j] at kern + 8(o·k + j)
        (block $done
          (loop $quad
            (br_if $done (i32.gt_u (i32.add (local.get $r) (i32.const 4)) (local.get $rows)))
            (local.set $p0 (i32.add (local.get $w) (i32.mul (local.get $r) (local.get $strideB))))
            (local.set $k0 (i32.add (local.get $kern) (i32.mul (local.get $r) (local.get $kB))))
            (local.set $k1 (i32.add (local.get $k0) (local.get $kB)))
            (local.set $k2 (i32.add (local.get $k1) (local.get $kB)))
            (local.set $k3 (i32.add (local.get $k2) (local.get $kB)))
            (local.set $a0 (f64.const 0)) (local.set $a1 (f64.const 0)) (local.set $a2 (f64.const 0)) (local.set $a3 (f64.const 0))
            (local.set $l0 (f64.const 0)) (local.set $l1 (f64.const 0)) (local.set $l2 (f64.const 0)) (local.set $l3 (f64.const 0))
            (local.set $c (i32.const 0))
            (block $cDone
              (loop $cLoop
                (br_if $cDone (i32.ge_u (local.get $c) (local.get $C)))
                (local.set $lost (i32.load8_u (i32.add (local.get $mask) (local.get $c))))
                (local.set $mt (f64.const 0))
                (if (local.get $lost)
                  (then (local.set $mt (f64.load (i32.add (local.get $means) (i32.shl (local.get $c) (i32.const 3)))))))
                (local.set $q0 (f64.const 0)) (local.set $q1 (f64.const 0)) (local.set $q2 (f64.const 0)) (local.set $q3 (f64.const 0))
                ;; p1..p3: the same channel's taps in the next three filters; p0 walks the taps
                (local.set $j (i32.const 0))
                (block $jDone
                  (loop $jLoop
                    (br_if $jDone (i32.ge_u (local.get $j) (local.get $k)))
                    (local.set $x0 (f64.promote_f32 (f32.load (local.get $p0))))
                    (local.set $x1 (f64.promote_f32 (f32.load (i32.add (local.get $p0) (local.get $strideB)))))
                    (local.set $x2 (f64.promote_f32 (f32.load (i32.add (local.get $p0) (i32.shl (local.get $strideB) (i32.const 1))))))
                    (local.set $x3 (f64.promote_f32 (f32.load (i32.add (local.get $p0) (i32.mul (local.get $strideB) (i32.const 3))))))
                    (if (local.get $lost)
                      (then
                        (local.set $out (i32.shl (local.get $j) (i32.const 3)))
                        (f64.store (i32.add (local.get $k0) (local.get $out)) (f64.add (f64.load (i32.add (local.get $k0) (local.get $out))) (f64.mul (local.get $x0) (local.get $mt))))
                        (f64.store (i32.add (local.get $k1) (local.get $out)) (f64.add (f64.load (i32.add (local.get $k1) (local.get $out))) (f64.mul (local.get $x1) (local.get $mt))))
                        (f64.store (i32.add (local.get $k2) (local.get $out)) (f64.add (f64.load (i32.add (local.get $k2) (local.get $out))) (f64.mul (local.get $x2) (local.get $mt))))
                        (f64.store (i32.add (local.get $k3) (local.get $out)) (f64.add (f64.load (i32.add (local.get $k3) (local.get $out))) (f64.mul (local.get $x3) (local.get $mt))))))
                    (local.set $q0 (f64.add (local.get $q0) (f64.mul (local.get $x0) (local.get $x0))))
                    (local.set $q1 (f64.add (local.get $q1) (f64.mul (local.get $x1) (local.get $x1))))
                    (local.set $q2 (f64.add (local.get $q2) (f64.mul (local.get $x2) (local.get $x2))))
                    (local.set $q3 (f64.add (local.get $q3) (f64.mul (local.get $x3) (local.get $x3))))
                    (local.set $p0 (i32.add (local.get $p0) (i32.const 4)))
                    (local.set $j (i32.add (local.get $j) (i32.const 1)))
                    (br $jLoop)))
                (local.set $vc (f64.load (i32.add (local.get $v) (i32.shl (local.get $c) (i32.const 3)))))
                (local.set $t0 (f64.mul (local.get $vc) (local.get $q0)))
                (local.set $t1 (f64.mul (local.get $vc) (local.get $q1)))
                (local.set $t2 (f64.mul (local.get $vc) (local.get $q2)))
                (local.set $t3 (f64.mul (local.get $vc) (local.get $q3)))
                (local.set $a0 (f64.add (local.get $a0) (local.get $t0)))
                (local.set $a1 (f64.add (local.get $a1) (local.get $t1)))
                (local.set $a2 (f64.add (local.get $a2) (local.get $t2)))
                (local.set $a3 (f64.add (local.get $a3) (local.get $t3)))
                (if (local.get $lost)
                  (then
                    (local.set $l0 (f64.add (local.get $l0) (local.get $t0)))
                    (local.set $l1 (f64.add (local.get $l1) (local.get $t1)))
                    (local.set $l2 (f64.add (local.get $l2) (local.get $t2)))
                    (local.set $l3 (f64.add (local.get $l3) (local.get $t3)))))
                (local.set $c (i32.add (local.get $c) (i32.const 1)))
                (br $cLoop)))
            (local.set $out (i32.shl (local.get $r) (i32.const 3)))
            (f64.store (i32.add (local.get $lostVar) (local.get $out)) (local.get $l0))
            (f64.store offset=8 (i32.add (local.get $lostVar) (local.get $out)) (local.get $l1))
            (f64.store offset=16 (i32.add (local.get $lostVar) (local.get $out)) (local.get $l2))
            (f64.store offset=24 (i32.add (local.get $lostVar) (local.get $out)) (local.get $l3))
            (f64.store (i32.add (local.get $allVar) (local.get $out)) (local.get $a0))
            (f64.store offset=8 (i32.add (local.get $allVar) (local.get $out)) (local.get $a1))
            (f64.store offset=16 (i32.add (local.get $allVar) (local.get $out)) (local.get $a2))
            (f64.store offset=24 (i32.add (local.get $allVar) (local.get $out)) (local.get $a3))
            (local.set $r (i32.add (local.get $r) (i32.const 4)))
            (br $quad)))))
    ;; the last rows (fewer than four), one at a time
    (block $done
      (loop $row
        (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $p0 (i32.add (local.get $w) (i32.mul (local.get $r) (local.get $strideB))))
        (local.set $k0 (i32.add (local.get $kern) (i32.mul (local.get $r) (local.get $kB))))
        (local.set $a0 (f64.const 0))
        (local.set $l0 (f64.const 0))
        (local.set $c (i32.const 0))
        (block $cDone
          (loop $cLoop
            (br_if $cDone (i32.ge_u (local.get $c) (local.get $C)))
            (local.set $lost (i32.load8_u (i32.add (local.get $mask) (local.get $c))))
            (local.set $mt (f64.const 0))
            (if (local.get $lost)
              (then (local.set $mt (f64.load (i32.add (local.get $means) (i32.shl (local.get $c) (i32.const 3)))))))
            (local.set $q0 (f64.const 0))
            (local.set $j (i32.const 0))
            (block $jDone
              (loop $jLoop
                (br_if $jDone (i32.ge_u (local.get $j) (local.get $k)))
                (local.set $x0 (f64.promote_f32 (f32.load (local.get $p0))))
                (if (local.get $lost)
                  (then
                    (local.set $out (i32.add (local.get $k0) (i32.shl (local.get $j) (i32.const 3))))
                    (f64.store (local.get $out) (f64.add (f64.load (local.get $out)) (f64.mul (local.get $x0) (local.get $mt))))))
                (local.set $q0 (f64.add (local.get $q0) (f64.mul (local.get $x0) (local.get $x0))))
                (local.set $p0 (i32.add (local.get $p0) (i32.const 4)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $jLoop)))
            (local.set $t0 (f64.mul (f64.load (i32.add (local.get $v) (i32.shl (local.get $c) (i32.const 3)))) (local.get $q0)))
            (if (local.get $lost) (then (local.set $l0 (f64.add (local.get $l0) (local.get $t0)))))
            (local.set $a0 (f64.add (local.get $a0) (local.get $t0)))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $cLoop)))
        (local.set $out (i32.shl (local.get $r) (i32.const 3)))
        (f64.store (i32.add (local.get $lostVar) (local.get $out)) (local.get $l0))
        (f64.store (i32.add (local.get $allVar) (local.get $out)) (local.get $a0))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $row)))
  )
)
