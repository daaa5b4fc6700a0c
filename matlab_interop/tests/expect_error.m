function err = expect_error(f, identifier, fragment)
err = [];
try
    f();
catch err
end
check(~isempty(err), 'expected error %s, got none', identifier);
check(strcmp(err.identifier, identifier), 'expected error %s, got %s: %s', identifier, err.identifier, err.message);
if nargin >= 3
    check(~isempty(strfind(err.message, fragment)), 'error message "%s" lacks "%s"', err.message, fragment);
end
end
