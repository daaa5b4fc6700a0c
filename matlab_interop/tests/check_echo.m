function check_echo(values, what)
out = cell(1, numel(values));
[out{:}] = pyulm.internal.call('echo', numel(values), values);
for k = 1:numel(values)
    v = values{k};
    y = out{k};
    check(same_bits(y, v), '%s: value %d (%s %s, complex %d) came back as %s %s, complex %d', what, k, class(v), ...
          mat2str(size(v)), ~isreal(v), class(y), mat2str(size(y)), ~isreal(y));
end
end
