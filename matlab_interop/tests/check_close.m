function check_close(a, b, tol, what)
check(isequal(size(a), size(b)), '%s: size %s, expected %s', what, mat2str(size(a)), mat2str(size(b)));
err = max(abs(double(a(:)) - double(b(:))));
scale = max(1, max(abs(double(b(:)))));
if isempty(err)
    err = 0;
end
check(err <= tol * scale, '%s: max abs difference %g (tolerance %g)', what, err, tol * scale);
end
