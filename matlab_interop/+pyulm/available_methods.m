function names = available_methods()
%AVAILABLE_METHODS Names of every registered localization method (cell column).
names = pyulm.internal.call('available_methods', 1, {});
end
